// The heavy parts of the code pages, each loaded on first use (CodeMirror, react-markdown).
import { lazy, Suspense, type ComponentProps } from "react";
import { Loading } from "../../../components/Loading";

const LazyEditor = lazy(() => import("./CodeEditor"));
const LazyMarkdown = lazy(() => import("./Markdown"));

export function Code(props: ComponentProps<typeof LazyEditor>) {
  return (
    <Suspense fallback={<Loading label="Loading the code view" />}>
      <LazyEditor {...props} />
    </Suspense>
  );
}

export function Readme(props: ComponentProps<typeof LazyMarkdown>) {
  return (
    <Suspense fallback={<Loading label="Loading the README" />}>
      <LazyMarkdown {...props} />
    </Suspense>
  );
}
