// The wizard's connection test and review steps.
import type { Violation } from "../../api/problem";
import { api, must } from "../../api/client";
import { JsonView } from "../../components/badges";
import { PreflightView } from "../../components/preflight";
import { ErrorBox } from "../../components/states";
import { useAction } from "../../lib/async";
import type { PreflightReport } from "../../lib/checks";
import type { Errs } from "./connection-fields";
import { FixFirst, RadioGroup } from "./fields";
import { F } from "./fields-ids";
import { redactedSpec, type ConnectorSpec, type DesiredState, type LocalProblem } from "./form";
import { STEPS, stepOfPointer } from "./steps";
import type { Validation } from "./use-validation";

/** The last connection test, and the spec (as JSON) it ran with. */
export interface Tested {
  report: PreflightReport;
  specJson: string;
}

export function TestStep(props: { appId: string; spec: ConnectorSpec; tested: Tested | null; onTested: (t: Tested) => void }) {
  const { appId, spec, tested } = props;
  const action = useAction();
  const json = JSON.stringify(spec);
  const noCollections = Object.keys(spec.collections).length === 0;
  const run = async () => {
    const report = await action.run(() =>
      must(api.POST("/v1/apps/{appId}/connectors/test", { params: { path: { appId } }, body: spec })),
    );
    if (report) props.onTested({ report, specJson: json });
  };
  return (
    <>
      <p>
        Checks the spec so far against MongoDB: the connection string, that the cluster is reachable and accepts the
        credentials, the user's privileges, that the database and each collection exist and record pre- and post-images
        (turned on here when "Enable pre- and post-images automatically" is checked), and that the connector's metadata
        collections can be created (they are). Failed checks do not stop you from going on; the review shows them again.
      </p>
      {noCollections && <p class="notice">The test checks each collection: add at least one in the Collections step first.</p>}
      <div class="row">
        <button type="button" class="primary" disabled={action.busy} onClick={run}>
          Test connection
        </button>
        {action.busy && (
          <span role="status" class="muted">
            Testing the connection… this can take several seconds.
          </span>
        )}
      </div>
      {action.error && <ErrorBox error={action.error} title="Could not run the connection test" />}
      {tested && <TestResult tested={tested} currentJson={json} />}
    </>
  );
}

function TestResult({ tested, currentJson }: { tested: Tested; currentJson: string }) {
  return (
    <>
      {tested.specJson !== currentJson && (
        <p class="notice">The settings changed since this test ran: test again to check them as they are now.</p>
      )}
      <PreflightView report={tested.report} caption="Connection test results" />
    </>
  );
}

const DESIRED = [
  { value: "running" as DesiredState, label: "Start syncing now", hint: "It starts as soon as a worker takes it." },
  {
    value: "paused" as DesiredState,
    label: "Save paused",
    hint: "Saved without running: test it and start it (Resume) from its page when you are ready.",
  },
];

export function ReviewStep(props: {
  spec: ConnectorSpec;
  testSpecJson: string;
  validation: Validation;
  violations: Violation[];
  local: LocalProblem[];
  tested: Tested | null;
  desired: DesiredState;
  onDesired: (d: DesiredState) => void;
  errs: Errs;
  onCreate: () => void;
  creating: boolean;
  createError: ReturnType<typeof useAction>["error"];
  showLocal: boolean;
}) {
  const { validation, violations, local } = props;
  const stepTitle = (path: string) => STEPS.find((s) => s.id === stepOfPointer(path))?.title ?? "";
  return (
    <>
      <h3>Connector spec</h3>
      <p class="muted small">What will be sent (the connection string's password hidden here).</p>
      <JsonView value={redactedSpec(props.spec)} label="Connector spec" />
      <h3>Validation</h3>
      {validation.error && <ErrorBox error={validation.error} title="Could not check the spec" />}
      {validation.report === null || validation.checking ? (
        <p class="muted" role="status">
          Checking the spec…
        </p>
      ) : violations.length === 0 && local.length === 0 ? (
        <p class="check-pass">
          <strong>The spec is valid.</strong>
        </p>
      ) : (
        <>
          <p class="check-fail">
            <strong>
              {violations.length + local.length} {violations.length + local.length === 1 ? "problem" : "problems"} to fix
              before creating it:
            </strong>
          </p>
          <ul class="violations">
            {local.map((p) => (
              <li key={p.field + p.message}>{p.message}</li>
            ))}
            {violations.map((v) => (
              <li key={v.path + v.message}>
                <code>{v.path || "/"}</code> {v.message} <span class="muted">(step {stepTitle(v.path)})</span>
              </li>
            ))}
          </ul>
        </>
      )}
      <h3>Connection test</h3>
      {props.tested ? (
        <TestResult tested={props.tested} currentJson={props.testSpecJson} />
      ) : (
        <p class="muted">Not tested yet: the Test connection step runs the checks against MongoDB.</p>
      )}
      <h3>Create</h3>
      <RadioGroup
        id={F.desiredState}
        label="When it is created"
        value={props.desired}
        choices={DESIRED}
        onValue={props.onDesired}
        errors={props.errs(F.desiredState)}
      />
      {props.showLocal && <FixFirst messages={local.map((p) => p.message)} />}
      <div class="row">
        <button type="button" class="primary" disabled={props.creating} onClick={props.onCreate}>
          Create connector
        </button>
        {props.creating && (
          <span role="status" class="muted">
            Creating the connector…
          </span>
        )}
      </div>
      {props.createError && <ErrorBox error={props.createError} title="Could not create the connector" />}
    </>
  );
}
