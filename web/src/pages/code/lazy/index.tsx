// The heavy parts of the code pages, each loaded on first use (CodeMirror, react-markdown).
// Loaded as queries, not React.lazy: a Suspense boundary shows its content no sooner than 300 ms
// after its fallback appeared (React 19's reveal throttle), which held every README back by ~300 ms
// although its chunk and data were there (bench/web/README.md).
import { useQuery } from "@tanstack/react-query";
import type { ComponentProps, ComponentType } from "react";
import { ErrorAlert } from "../../../components/ErrorAlert";
import { Loading } from "../../../components/Loading";
import type CodeEditor from "./CodeEditor";
import type Markdown from "./Markdown";

const loadEditor = () => import("./CodeEditor");
const loadMarkdown = () => import("./Markdown");

// Starts loading the Markdown renderer before the README's text arrives (the overview calls it).
export function preloadMarkdown(): void {
  void loadMarkdown();
}

function useChunk<P extends object>(name: string, load: () => Promise<{ default: ComponentType<P> }>) {
  return useQuery({ queryKey: ["chunk", name], queryFn: load, staleTime: Infinity, gcTime: Infinity, retry: 1 });
}

function Chunk<P extends object>({ name, load, label, props }: {
  name: string;
  load: () => Promise<{ default: ComponentType<P> }>;
  label: string;
  props: P;
}) {
  const m = useChunk(name, load);
  if (m.error) return <ErrorAlert error={m.error} title={`The ${name} could not be loaded`} />;
  if (!m.data) return <Loading label={label} />;
  const C = m.data.default;
  return <C {...props} />;
}

export function Code(props: ComponentProps<typeof CodeEditor>) {
  return <Chunk name="code view" load={loadEditor} label="Loading the code view" props={props} />;
}

export function Readme(props: ComponentProps<typeof Markdown>) {
  return <Chunk name="README viewer" load={loadMarkdown} label="Loading the README" props={props} />;
}
