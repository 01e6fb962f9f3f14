// RFC 9457 problem documents, as the API answers every error.
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  request_id?: string;
  field?: string;
  [extra: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  readonly etag: string | null;

  constructor(status: number, problem: Problem, etag: string | null = null) {
    super(problem.detail || problem.title || `request failed (${status})`);
    this.status = status;
    this.problem = problem;
    this.etag = etag;
  }

  // The stable problem code: "branch-moved" from "urn:atrium:problem:branch-moved".
  get code(): string {
    const t = this.problem.type ?? "";
    return t.slice(Math.max(t.lastIndexOf(":"), t.lastIndexOf("/")) + 1);
  }

  static from(response: Response, body: unknown): ApiError {
    const problem: Problem =
      body && typeof body === "object" ? (body as Problem) : { status: response.status, title: response.statusText };
    return new ApiError(response.status, problem, response.headers.get("ETag"));
  }
}

// Words for any error a page shows.
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
