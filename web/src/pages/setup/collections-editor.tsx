// The collections of a connector (add, set up, remove) and the connector-wide sync options.
import { useState } from "preact/hooks";
import { CollectionFields } from "./collection-fields";
import type { Errs } from "./connection-fields";
import { FieldMessages, Checkbox, Select } from "./fields";
import { errorId, F } from "./fields-ids";
import { newCollection, type CollectionForm, type ConnectorForm, type OnHistoryLost } from "./form";

const HISTORY = [
  { value: "fail" as OnHistoryLost, label: "Fail: stop the collection and tell me (default)" },
  { value: "resync" as OnHistoryLost, label: "Resync: copy the collection again" },
];

export function CollectionsEditor(props: {
  form: ConnectorForm;
  onChange: (patch: Partial<ConnectorForm>) => void;
  errs: Errs;
  /** Heading level of each collection is h3; this names the options' heading. */
  optionsHeading?: string;
}) {
  const { form, onChange, errs } = props;
  const [name, setName] = useState("");
  const [addError, setAddError] = useState<string | null>(null);

  const add = () => {
    const n = name.trim();
    if (n === "") return setAddError("Type the MongoDB collection's name first");
    if (form.collections.some((c) => c.name.trim() === n)) return setAddError(`The collection ${n} is already in the list`);
    setAddError(null);
    setName("");
    onChange({ collections: [...form.collections, newCollection(n)] });
  };
  const update = (key: string, patch: Partial<CollectionForm>) =>
    onChange({ collections: form.collections.map((c) => (c.key === key ? { ...c, ...patch } : c)) });
  const remove = (key: string) => onChange({ collections: form.collections.filter((c) => c.key !== key) });

  const newErrors = [...(addError ? [addError] : []), ...(errs(F.newCollection) ?? [])];
  return (
    <>
      <div class="toolbar add-collection">
        <div class="field">
          <label for={F.newCollection}>Collection name</label>
          <input
            id={F.newCollection}
            value={name}
            autoComplete="off"
            spellcheck={false}
            aria-invalid={newErrors.length > 0 ? true : undefined}
            aria-describedby={newErrors.length > 0 ? errorId(F.newCollection) : undefined}
            onInput={(e) => setName(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter") {
                e.preventDefault();
                add();
              }
            }}
          />
        </div>
        <button type="button" class="primary" onClick={add}>
          Add collection
        </button>
      </div>
      <FieldMessages id={F.newCollection} errors={newErrors} />
      {form.collections.length === 0 ? (
        <p class="state empty">No collections yet. Add the MongoDB collections this connector syncs; each becomes an edge collection of the same name.</p>
      ) : (
        form.collections.map((c) => (
          <CollectionFields key={c.key} c={c} errs={errs} onChange={(p) => update(c.key, p)} onRemove={() => remove(c.key)} />
        ))
      )}
      <h3>{props.optionsHeading ?? "Sync options"}</h3>
      <Checkbox
        id={F.autoConfigure}
        label="Enable pre- and post-images automatically"
        checked={form.autoConfigure}
        onValue={(autoConfigure) => onChange({ autoConfigure })}
        errors={errs(F.autoConfigure)}
        hint="The connector turns on change stream pre- and post-images (collMod) where they are off; its database user must be allowed to."
      />
      <Select
        id={F.onHistoryLost}
        label="When history is lost"
        value={form.onHistoryLost}
        choices={HISTORY}
        onValue={(onHistoryLost) => onChange({ onHistoryLost })}
        errors={errs(F.onHistoryLost)}
        hint="What a collection does when its change stream cannot resume because its history rolled off the oplog."
      />
    </>
  );
}
