// The events list of the events tab: the newest page for the filters, newer events added on top
// every 3 s while live, older pages added below on request.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { asProblem, type ApiProblem } from "../../api/problem";
import { appendOlder, eventQuery, mergeNewer, PAGE_SIZE, type EventFilters } from "./events";

export type EventOut = Schemas["EventOut"];

export interface EventFeed {
  items: EventOut[];
  loaded: boolean;
  error: ApiProblem | null;
  hasOlder: boolean;
  loadingOlder: boolean;
  dropped: number;
  loadOlder: () => Promise<void>;
}

export function useEventFeed(appId: string, connectorId: string, filters: EventFilters, live: boolean): EventFeed {
  const [items, setItems] = useState<EventOut[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [hasOlder, setHasOlder] = useState(false);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [dropped, setDropped] = useState(0);
  const generation = useRef(0);
  const itemsRef = useRef(items);
  itemsRef.current = items;
  const key = JSON.stringify([appId, connectorId, eventQuery(filters)]);

  const page = useCallback(
    (after?: string) =>
      must(
        api.GET("/v1/apps/{appId}/connectors/{connectorId}/events", {
          params: { path: { appId, connectorId }, query: { ...eventQuery(filters), limit: PAGE_SIZE, after } },
        }),
      ),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [key],
  );

  // The first page, again whenever the filters change.
  useEffect(() => {
    const mine = ++generation.current;
    setItems([]);
    setLoaded(false);
    setError(null);
    setHasOlder(false);
    page()
      .then((p) => {
        if (mine !== generation.current) return;
        setItems(p.items);
        setHasOlder(!!p.nextCursor);
        setDropped(p.dropped);
        setLoaded(true);
      })
      .catch((e) => {
        if (mine === generation.current) setError(asProblem(e));
      });
  }, [page]);

  // Newer events on top while live.
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(() => {
      if (typeof document !== "undefined" && document.visibilityState === "hidden") return;
      const mine = generation.current;
      page()
        .then((p) => {
          if (mine !== generation.current) return;
          const merged = mergeNewer(itemsRef.current, p.items);
          if (merged.gap) setHasOlder(!!p.nextCursor);
          setItems(merged.items);
          setDropped(p.dropped);
          setLoaded(true);
          setError(null);
        })
        .catch((e) => {
          if (mine === generation.current) setError(asProblem(e));
        });
    }, 3000);
    return () => clearInterval(timer);
  }, [page, live]);

  const loadOlder = useCallback(async () => {
    const last = itemsRef.current[itemsRef.current.length - 1];
    if (!last) return;
    const mine = generation.current;
    setLoadingOlder(true);
    try {
      const p = await page(last.id);
      if (mine !== generation.current) return;
      setItems((current) => appendOlder(current, p.items));
      setHasOlder(!!p.nextCursor);
      setError(null);
    } catch (e) {
      if (mine === generation.current) setError(asProblem(e));
    } finally {
      setLoadingOlder(false);
    }
  }, [page]);

  return { items, loaded, error, hasOlder, loadingOlder, dropped, loadOlder };
}
