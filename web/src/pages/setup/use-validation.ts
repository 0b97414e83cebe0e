// Validation as you type: the spec so far goes to the api's validate ~400 ms after the last
// change; answers that arrive after a newer request are dropped. Nothing here logs the spec (it
// holds the connection string).
import { useEffect, useRef, useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { asProblem, type ApiProblem } from "../../api/problem";

export type ValidationReport = Schemas["ValidationReport"];

export interface Validation {
  report: ValidationReport | null;
  error: ApiProblem | null;
  /** A request is waiting for the pause in typing or for its answer. */
  checking: boolean;
  /** The JSON of the body the report is about. */
  checked: string | null;
}

export const VALIDATE_DEBOUNCE_MS = 400;

/**
 * Validates `body` (null: nothing to validate) after a pause in its changes; with `connectorId`,
 * as a replacement of that connector (its own name and collections are not conflicts, the stored
 * connection string may be kept).
 */
export function useValidation(appId: string, body: unknown | null, connectorId?: string): Validation {
  const json = body === null ? null : JSON.stringify(body);
  const [state, setState] = useState<Validation>({ report: null, error: null, checking: false, checked: null });
  const generation = useRef(0);
  useEffect(() => {
    const mine = ++generation.current;
    if (json === null) {
      setState({ report: null, error: null, checking: false, checked: null });
      return;
    }
    setState((s) => ({ ...s, checking: true }));
    const timer = setTimeout(async () => {
      try {
        const report = await must(
          api.POST("/v1/apps/{appId}/connectors/validate", {
            params: { path: { appId }, query: connectorId ? { connectorId } : {} },
            body: JSON.parse(json) as Schemas["ConnectorDraft"],
          }),
        );
        if (mine === generation.current) setState({ report, error: null, checking: false, checked: json });
      } catch (e) {
        if (mine === generation.current) setState((s) => ({ ...s, error: asProblem(e), checking: false }));
      }
    }, VALIDATE_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [appId, json, connectorId]);
  useEffect(
    () => () => {
      generation.current++;
    },
    [],
  );
  return state;
}
