// The DQL console: a statement with optional JSON arguments, run with the button or Ctrl+Enter;
// its result as a table or as JSON, what a write changed, and where a statement failed to parse.
import { useRef, useState } from "preact/hooks";
import type { ApiProblem } from "../../api/problem";
import { JsonView } from "../../components/badges";
import { Empty, ErrorBox } from "../../components/states";
import { useAction } from "../../lib/async";
import { count, docId } from "../../lib/format";
import type { OnView } from "./collections";
import { errorLine, expectedParts, isRunShortcut, offsetOf, oneLine, parseArgs, statementCollection } from "./dql";
import { execute, type Result } from "./execute";
import { ResultTable } from "./results";

interface Ran {
  statement: string;
  result: Result;
}

export function Console(props: {
  appId: string;
  history: string[];
  onRan: (statement: string) => void;
  /** A write succeeded: the collections' counts may have changed. */
  onWrote: () => void;
  onView: OnView;
}) {
  const [statement, setStatement] = useState("");
  const [argsText, setArgsText] = useState("");
  const [argsError, setArgsError] = useState<string | null>(null);
  const [ran, setRan] = useState<Ran | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  const [asJson, setAsJson] = useState(false);
  const action = useAction();
  const editor = useRef<HTMLTextAreaElement>(null);
  const argsField = useRef<HTMLTextAreaElement>(null);

  const run = async () => {
    const text = statement.trim();
    if (text === "" || action.busy) return;
    const parsed = parseArgs(argsText);
    if (!parsed.ok) {
      setArgsError(parsed.message);
      argsField.current?.focus();
      return;
    }
    setArgsError(null);
    props.onRan(text);
    setFailed(text);
    const result = await action.run(() => execute(props.appId, text, parsed.args));
    if (result) {
      setRan({ statement: text, result });
      setFailed(null);
      if (result.queryType !== "select") props.onWrote();
    }
  };
  const onKeyDown = (e: KeyboardEvent) => {
    if (isRunShortcut(e)) {
      e.preventDefault();
      void run();
    }
  };
  const goTo = (offset: number) => {
    const el = editor.current;
    if (!el) return;
    el.focus();
    el.setSelectionRange(offset, offset);
  };

  return (
    <section aria-labelledby="console-heading">
      <h2 id="console-heading">DQL console</h2>
      <form
        class="card"
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <div class="field">
          <label for="dql-statement">DQL statement</label>
          <textarea
            id="dql-statement"
            ref={editor}
            rows={5}
            spellcheck={false}
            value={statement}
            placeholder="SELECT * FROM tasks WHERE done = :done LIMIT 20"
            aria-describedby="dql-help"
            aria-invalid={action.error?.statementError ? "true" : undefined}
            onInput={(e) => setStatement(e.currentTarget.value)}
            onKeyDown={onKeyDown}
          />
          <span id="dql-help" class="muted small">
            SELECT, INSERT, UPDATE or DELETE; <code>SELECT * FROM system:collections</code> lists the collections. Ctrl+Enter
            runs it.
          </span>
        </div>
        <div class="field">
          <label for="dql-args">Arguments (JSON)</label>
          <textarea
            id="dql-args"
            ref={argsField}
            rows={2}
            spellcheck={false}
            value={argsText}
            placeholder='{"done": false}'
            aria-invalid={argsError ? "true" : undefined}
            aria-describedby={argsError ? "dql-args-error dql-args-help" : "dql-args-help"}
            onInput={(e) => setArgsText(e.currentTarget.value)}
            onKeyDown={onKeyDown}
          />
          <span id="dql-args-help" class="muted small">
            Optional: a JSON object with the values of the statement's <code>:name</code> arguments.
          </span>
          {argsError && (
            <span id="dql-args-error" class="field-error">
              {argsError}
            </span>
          )}
        </div>
        <div class="toolbar">
          <button type="submit" class="primary" disabled={action.busy || statement.trim() === ""}>
            {action.busy ? "Running…" : "Run"}
          </button>
          {props.history.length > 0 && (
            <div class="field">
              <label for="dql-history">Recent statements</label>
              <select
                id="dql-history"
                value=""
                onChange={(e) => {
                  const chosen = e.currentTarget.value;
                  if (chosen !== "") setStatement(chosen);
                  e.currentTarget.value = "";
                }}
              >
                <option value="">Choose one to edit it…</option>
                {props.history.map((h) => (
                  <option key={h} value={h}>
                    {oneLine(h)}
                  </option>
                ))}
              </select>
            </div>
          )}
        </div>
      </form>
      {action.error && failed !== null && <Failure error={action.error} statement={failed} goTo={goTo} />}
      {ran && !action.error && (
        <Outcome ran={ran} asJson={asJson} setAsJson={setAsJson} onView={props.onView} />
      )}
    </section>
  );
}

function Failure(props: { error: ApiProblem; statement: string; goTo: (offset: number) => void }) {
  const se = props.error.statementError;
  return (
    <>
      <ErrorBox error={props.error} title="The statement failed" />
      {se && (
        <div class="card statement-error">
          <h3>Where the statement stopped</h3>
          <p>
            Line {se.line}, column {se.column}
            {se.expected.length > 0 && (
              <>
                : expected{" "}
                {expectedParts(se.expected).map((p) => (
                  <span key={p.word}>
                    <code class="code">{p.word}</code>
                    {p.after}
                  </span>
                ))}
              </>
            )}
            .
          </p>
          <pre class="caret-line" aria-hidden="true">
            {errorLine(props.statement, se).text}
            {"\n"}
            {" ".repeat(errorLine(props.statement, se).caret)}^
          </pre>
          <button type="button" class="secondary" onClick={() => props.goTo(offsetOf(props.statement, se.line, se.column))}>
            Go to the error
          </button>
        </div>
      )}
    </>
  );
}

function Outcome(props: { ran: Ran; asJson: boolean; setAsJson: (v: boolean) => void; onView: OnView }) {
  const { statement, result } = props.ran;
  const select = result.queryType === "select";
  const collection = statementCollection(statement);
  const summary = select
    ? `${count(result.items.length)} ${result.items.length === 1 ? "row" : "rows"}`
    : `${count(result.mutatedDocumentIds.length)} ${result.mutatedDocumentIds.length === 1 ? "document" : "documents"} changed`;
  return (
    <section class="card" aria-labelledby="result-heading">
      <div class="spread">
        <h3 id="result-heading">Result</h3>
        <div class="row" role="group" aria-label="Show the result as">
          <button type="button" class="secondary" aria-pressed={!props.asJson} onClick={() => props.setAsJson(false)}>
            Table
          </button>
          <button type="button" class="secondary" aria-pressed={props.asJson} onClick={() => props.setAsJson(true)}>
            JSON
          </button>
        </div>
      </div>
      <p role="status">
        <code>{result.queryType}</code>: {summary}. <span class="muted small mono">{oneLine(statement, 120)}</span>
      </p>
      {result.warnings.length > 0 && (
        <div class="notice">
          <h4>Warnings</h4>
          <ul>
            {result.warnings.map((w, i) => (
              <li key={i}>{w}</li>
            ))}
          </ul>
          {result.totalWarningsCount > result.warnings.length && (
            <p class="small">
              {count(result.totalWarningsCount)} warnings in all; the first {result.warnings.length} are shown.
            </p>
          )}
        </div>
      )}
      {props.asJson ? (
        <JsonView value={result} label="Result as JSON" />
      ) : select ? (
        result.items.length === 0 ? (
          <Empty>No documents matched.</Empty>
        ) : (
          <ResultTable items={result.items} caption="Result rows" onView={(item, name) => props.onView(collection, item, name)} />
        )
      ) : (
        <>
          <h4>Changed documents</h4>
          {result.mutatedDocumentIds.length === 0 ? (
            <Empty>The statement changed no document.</Empty>
          ) : (
            <ul class="ids">
              {result.mutatedDocumentIds.map((id, i) => (
                <li key={i}>
                  <code>{docId(id)}</code>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}
