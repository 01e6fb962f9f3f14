// An API error shown where it belongs: next to the form field the problem names (`field`), or
// above the form when it names none of the form's fields.
import { ApiError, errorText } from "./problem";

export interface SplitError {
  fields: Record<string, string>;
  general: unknown;
}

// `aliases` maps an API field to the form's (e.g. new_password -> password).
export function splitError(e: unknown, fields: readonly string[], aliases: Record<string, string> = {}): SplitError {
  if (!e) return { fields: {}, general: null };
  if (e instanceof ApiError && typeof e.problem.field === "string") {
    const f = aliases[e.problem.field] ?? e.problem.field;
    if (fields.includes(f)) return { fields: { [f]: errorText(e) }, general: null };
  }
  return { fields: {}, general: e };
}
