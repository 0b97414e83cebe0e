// The connector's name, description, MongoDB connection string and database: the wizard's first
// step and the top of the editor's form.
import { F } from "./fields-ids";
import { TextField } from "./fields";
import type { ConnectorForm } from "./form";

export type Errs = (field: string) => string[] | undefined;

export function ConnectionFields(props: {
  form: ConnectorForm;
  onChange: (patch: Partial<ConnectorForm>) => void;
  errs: Errs;
  /** Editor: the stored connection string, redacted; a blank field keeps it. */
  stored?: string;
}) {
  const { form, onChange, errs } = props;
  return (
    <>
      <TextField
        id={F.name}
        label="Name"
        value={form.name}
        onValue={(name) => onChange({ name })}
        errors={errs(F.name)}
        hint="1 to 64 letters, digits, '-', '_' or '.', unique in the app."
        autoComplete="off"
        required
      />
      <TextField
        id={F.description}
        label="Description"
        value={form.description}
        onValue={(description) => onChange({ description })}
        errors={errs(F.description)}
        autoComplete="off"
      />
      <TextField
        id={F.connectionString}
        label="Connection string"
        value={form.connectionString}
        onValue={(connectionString) => onChange({ connectionString })}
        errors={errs(F.connectionString)}
        autoComplete="off"
        mono
        required={props.stored === undefined}
        placeholder={props.stored === undefined ? "mongodb+srv://user:password@cluster0.example.net/" : undefined}
        hint={
          props.stored === undefined ? (
            "mongodb:// or mongodb+srv://. It is stored encrypted and never shown again in clear."
          ) : (
            <>
              Leave it blank to keep the stored one (<code>{props.stored}</code>); type a new one to replace it.
            </>
          )
        }
      />
      <TextField
        id={F.database}
        label="Database"
        value={form.database}
        onValue={(database) => onChange({ database })}
        errors={errs(F.database)}
        hint="The MongoDB database to sync."
        autoComplete="off"
        required
      />
    </>
  );
}
