// The app's edge store: its collections and their documents, a DQL console, and one document's
// JSON with what can be told about its types.
import { useEffect, useRef, useState } from "preact/hooks";
import { Collections } from "./store/collections";
import { Console } from "./store/console";
import { DocumentView } from "./store/document";
import { remember } from "./store/dql";
import type { Row } from "./store/table";

interface Viewing {
  collection: string | null;
  item: Row;
  name: string;
}

export function StorePage({ appId }: { appId: string }) {
  const [selected, setSelected] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const [viewing, setViewing] = useState<Viewing | null>(null);
  // Statements run on this page, newest first: in memory only, never stored.
  const [history, setHistory] = useState<string[]>([]);
  const title = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    setSelected(null);
    setViewing(null);
    setHistory([]);
  }, [appId]);
  const view = (collection: string | null, item: Row, name: string) => setViewing({ collection, item, name });
  return (
    <>
      <h1 ref={title} tabIndex={-1}>
        Edge store
      </h1>
      <div class={viewing ? "store-layout split" : "store-layout"}>
        <div>
          <Collections
            appId={appId}
            selected={selected}
            onSelect={(name) => {
              setSelected(name);
              setViewing(null);
            }}
            tick={tick}
            onRefresh={() => setTick((t) => t + 1)}
            onView={view}
          />
          <Console
            appId={appId}
            history={history}
            onRan={(s) => setHistory((h) => remember(h, s))}
            onWrote={() => setTick((t) => t + 1)}
            onView={view}
          />
        </div>
        {viewing && (
          <DocumentView
            key={`${viewing.collection}:${viewing.name}`}
            appId={appId}
            collection={viewing.collection}
            item={viewing.item}
            name={viewing.name}
            onClose={() => {
              setViewing(null);
              title.current?.focus();
            }}
          />
        )}
      </div>
    </>
  );
}
