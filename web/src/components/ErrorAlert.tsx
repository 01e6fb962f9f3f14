// An API error in words, next to what caused it: the problem's detail, and the request id for
// the server log.
import { Alert } from "@mantine/core";
import { ApiError, errorText } from "../api/problem";

export function ErrorAlert({ error, title = "Something went wrong" }: { error: unknown; title?: string }) {
  if (!error) return null;
  const id = error instanceof ApiError ? error.problem.request_id : undefined;
  return (
    <Alert color="red" title={title} role="alert" variant="light">
      {errorText(error)}
      {id ? <div style={{ fontSize: "0.75rem", opacity: 0.7 }}>request {id}</div> : null}
    </Alert>
  );
}
