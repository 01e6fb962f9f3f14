// The ref and path a code page shows, read from its URL with the repository's refs.
import { useParams } from "react-router";
import { useRefs, useRepo } from "../../api/code";
import { useProject } from "../projects/ProjectShell";
import { splitRefPath } from "./refs";

export function useCodeLocation() {
  const { project, base } = useProject();
  const splat = useParams()["*"] ?? "";
  const repo = useRepo(project.id);
  const { branches, tags } = useRefs(project.id);
  const branchNames = branches.data?.items.map((b) => b.name) ?? [];
  const known = [...branchNames, ...(tags.data?.items.map((t) => t.name) ?? [])];
  const split = splitRefPath(splat, known);
  const ready = !repo.isPending && !branches.isPending && !tags.isPending;
  const ref = split.ref || repo.data?.default_branch || "";
  const isBranch = branchNames.includes(ref) || (!!repo.data?.empty && ref === repo.data.default_branch);
  const branch = branches.data?.items.find((b) => b.name === ref);
  return {
    project,
    base,
    ref,
    path: split.path,
    ready,
    isBranch,
    branch,
    repo,
    branches,
    tags,
    error: repo.error ?? branches.error ?? tags.error,
  };
}
