// The API's problem+json answers, as one error type the pages can show.
import type { components } from "./schema.gen";

export type Problem = components["schemas"]["Problem"];
export type Violation = components["schemas"]["Violation"];
export type StatementError = components["schemas"]["StatementError"];

/** An API error: the problem document when the api sent one, else what went wrong on the way. */
export class ApiProblem extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly errors: Violation[];
  readonly requestId: string | null;
  /** For DQL parse errors: where the statement stopped parsing, and what was expected there. */
  readonly statementError: StatementError | null;

  constructor(status: number, problem: Partial<Problem>, requestId: string | null = null) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.name = "ApiProblem";
    this.status = status;
    this.code = problem.code ?? (status === 0 ? "network_error" : `http_${status}`);
    this.title = problem.title ?? (status === 0 ? "The api could not be reached" : `HTTP ${status}`);
    this.detail = problem.detail ?? this.title;
    this.errors = problem.errors ?? [];
    this.requestId = requestId;
    this.statementError = problem.statementError ?? null;
  }

  /** The violation at `pointer` (a JSON pointer) or below it. */
  errorsAt(pointer: string): Violation[] {
    return this.errors.filter((v) => v.path === pointer || v.path.startsWith(pointer + "/"));
  }
}

/**
 * Turns a failed answer into an ApiProblem, whatever its body. `parsed` is the body when the
 * client already read it (openapi-fetch hands it over as `error`).
 */
export async function problemFrom(response: Response, parsed?: unknown): Promise<ApiProblem> {
  const requestId = response.headers.get("x-request-id");
  let body: unknown = parsed ?? null;
  if (body === null && !response.bodyUsed) {
    try {
      body = await response.clone().json();
    } catch {
      body = null;
    }
  }
  if (body && typeof body === "object" && "code" in body) {
    return new ApiProblem(response.status, body as Partial<Problem>, requestId);
  }
  return new ApiProblem(response.status, { detail: `The api answered ${response.status} ${response.statusText}` }, requestId);
}

export function asProblem(error: unknown): ApiProblem {
  if (error instanceof ApiProblem) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ApiProblem(0, { detail: `${message}. Check that the api is running and reachable.` });
}
