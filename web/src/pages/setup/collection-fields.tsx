// One synced collection's settings: its ID mapping, initial sync, mode, strict mode, settable
// counters and filter.
import { cf } from "./fields-ids";
import { Checkbox, FieldMessages, RadioGroup, Select, TextArea, TextField } from "./fields";
import type { CollectionForm, IdMode, SyncMode } from "./form";
import type { Errs } from "./connection-fields";

const ID_MODES = [
  { value: "match" as IdMode, label: "Match IDs", hint: 'The edge _id is the MongoDB _id (fields ["_id"]).' },
  { value: "one" as IdMode, label: "One field", hint: "Another top-level field becomes the edge _id." },
  { value: "several" as IdMode, label: "Several fields", hint: "A composite edge _id made of several top-level fields." },
];

const MODES = [
  { value: "json" as SyncMode, label: "json: native JSON types (default)" },
  { value: "ejson" as SyncMode, label: "ejson: canonical Extended JSON (exact BSON types)" },
];

export function CollectionFields(props: {
  c: CollectionForm;
  errs: Errs;
  onChange: (patch: Partial<CollectionForm>) => void;
  onRemove: () => void;
}) {
  const { c, errs, onChange } = props;
  const group = cf(c.key, "group");
  const groupErrors = errs(group);
  const title = `${group}-title`;
  return (
    <section
      id={group}
      class="card collection"
      aria-labelledby={title}
      aria-describedby={groupErrors && groupErrors.length > 0 ? `${group}-error` : undefined}
    >
      <div class="spread">
        <h3 id={title}>
          Collection <code>{c.name}</code>
        </h3>
        <button type="button" class="secondary" aria-label={`Remove collection ${c.name}`} onClick={props.onRemove}>
          Remove collection
        </button>
      </div>
      <FieldMessages id={group} errors={groupErrors} />
      <RadioGroup
        id={cf(c.key, "fields")}
        label="ID mapping"
        value={c.idMode}
        choices={ID_MODES}
        errors={errs(cf(c.key, "fields"))}
        onValue={(idMode) => {
          // Carry what was typed over to the other mode.
          if (idMode === "several" && c.idMode === "one" && c.idField.trim() && !c.idFields.some((f) => f.trim())) {
            onChange({ idMode, idFields: [c.idField, ""] });
          } else if (idMode === "one" && c.idMode === "several" && !c.idField.trim()) {
            onChange({ idMode, idField: c.idFields.find((f) => f.trim()) ?? "" });
          } else onChange({ idMode });
        }}
      />
      {c.idMode === "one" && (
        <TextField
          id={cf(c.key, "field")}
          label="ID field"
          value={c.idField}
          onValue={(idField) => onChange({ idField })}
          errors={errs(cf(c.key, "field"))}
          hint="A top-level field that is present in every document and never changes."
          autoComplete="off"
          mono
        />
      )}
      {c.idMode === "several" && <CompositeFields c={c} errs={errs} onChange={onChange} />}
      <Checkbox
        id={cf(c.key, "initialSync")}
        label="Initial sync"
        checked={c.initialSync}
        onValue={(initialSync) => onChange({ initialSync })}
        errors={errs(cf(c.key, "initialSync"))}
        hint="Copy the documents already in the collection when it is added (or its ID mapping changes). Otherwise only changes from now on are synced."
      />
      <Select
        id={cf(c.key, "mode")}
        label="Mode"
        value={c.mode}
        choices={MODES}
        onValue={(mode) => onChange({ mode })}
        errors={errs(cf(c.key, "mode"))}
      />
      <Checkbox
        id={cf(c.key, "strict")}
        label="Strict mode"
        checked={c.strict}
        onValue={(strict) => onChange({ strict })}
        errors={errs(cf(c.key, "strict"))}
        hint="On (the default): a nested object is one whole value. Off: objects merge field by field. It must be off with the ejson mode and with settable counters."
      />
      <TextField
        id={cf(c.key, "counters")}
        label="Settable counters"
        value={c.counters}
        onValue={(counters) => onChange({ counters })}
        errors={errs(cf(c.key, "counters"))}
        hint="Numeric fields synced as counters (incremented on the edge, set from MongoDB): dotted paths, comma-separated, e.g. quantity, order.qty. Needs strict mode off."
        autoComplete="off"
        mono
      />
      <TextArea
        id={cf(c.key, "filter")}
        label="Filter"
        value={c.filter}
        onValue={(filter) => onChange({ filter })}
        errors={errs(cf(c.key, "filter"))}
        rows={Math.min(12, Math.max(3, c.filter.split("\n").length + 1))}
        placeholder='{"deleted": false}'
        hint="A MongoDB query document as JSON: only matching documents are synced. Leave it empty to sync them all."
      />
    </section>
  );
}

function CompositeFields(props: { c: CollectionForm; errs: Errs; onChange: (patch: Partial<CollectionForm>) => void }) {
  const { c, errs, onChange } = props;
  const set = (i: number, value: string) => onChange({ idFields: c.idFields.map((f, j) => (j === i ? value : f)) });
  return (
    <fieldset class="composite">
      <legend>ID fields</legend>
      <p class="muted small">Top-level fields, in order; together they make the edge _id. Each must be present and never change.</p>
      {c.idFields.map((f, i) => (
        <div key={i} class="row composite-row">
          <TextField
            id={cf(c.key, "fields", i)}
            label={`ID field ${i + 1}`}
            value={f}
            onValue={(v) => set(i, v)}
            errors={errs(cf(c.key, "fields", i))}
            autoComplete="off"
            mono
          />
          <button
            type="button"
            class="secondary"
            disabled={c.idFields.length <= 1}
            onClick={() => onChange({ idFields: c.idFields.filter((_, j) => j !== i) })}
          >
            Remove ID field {i + 1}
          </button>
        </div>
      ))}
      <button type="button" class="secondary" onClick={() => onChange({ idFields: [...c.idFields, ""] })}>
        Add ID field
      </button>
    </fieldset>
  );
}
