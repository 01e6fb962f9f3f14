// /{org}/{project}/edit/<branch>/<path> and /new/<branch>/<folder>: edit or create a file in the
// browser (CodeMirror, lazily loaded) and commit it to the branch. The commit names the branch head
// the edit started from (If-Match); when the branch moved meanwhile (412 branch-moved) the page
// shows their version against the user's, to keep theirs or commit the user's on top.
import { Anchor, Button, Group, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Link, useLocation, useNavigate, useSearchParams } from "react-router";
import { ApiError, fetchJson } from "../../api/client";
import { codeKey, fileText, fileUrl, putFile, useCommit, useFile, type RepoFile } from "../../api/code";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { Conflict, type ConflictState } from "./Conflict";
import { Code } from "./lazy";
import { useCodeLocation } from "./location";
import { codeUrl, normalizePath, parentDir } from "./refs";

interface Draft {
  base: string | null; // the branch head the text was made against; null: the branch is new
  original: string;
  text: string;
  key: number; // a new key is a new editor with `text` in it
}

export default function Edit() {
  const loc = useCodeLocation();
  const { project, base: root, ref: branch } = loc;
  const creating = useLocation().pathname.startsWith(`${root}/new`);
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const file = useFile(project.id, branch, loc.path, loc.ready && !creating && !!loc.path);
  // The branch's head for a new file: from the branch list, else asked for (a branch past the
  // list's first page; a 404 means the commit makes the branch).
  const head = useCommit(project.id, branch, loc.ready && creating && !loc.repo.data?.empty && !loc.branch);
  const headId = loc.branch?.commit ?? head.data?.id;
  const [draft, setDraft] = useState<Draft | null>(null);
  const [newPath, setNewPath] = useState(() => [loc.path, params.get("name") ?? ""].filter(Boolean).join("/"));
  const target = creating ? (normalizePath(newPath) ?? "") : loc.path;
  const [message, setMessage] = useState("");
  const [conflict, setConflict] = useState<ConflictState | null>(null);

  // The starting point, once: the file as it is on the branch now (not a cached copy), or an
  // empty file at the branch head.
  const headMissing = head.error instanceof ApiError && head.error.status === 404;
  useEffect(() => {
    if (draft || !loc.ready) return;
    if (!creating && file.data && !file.isFetching) {
      const t = fileText(file.data);
      setDraft({ base: file.data.commit, original: t, text: t, key: 0 });
    } else if (creating && (loc.repo.data?.empty || headId || headMissing)) {
      setDraft({ base: headId ?? null, original: "", text: "", key: 0 });
    }
  }, [draft, loc.ready, creating, file.data, file.isFetching, headId, headMissing, loc.repo.data?.empty]);

  const commit = useMutation({
    mutationFn: (d: { base: string | null; text: string }) =>
      putFile(
        project.id,
        target,
        { branch, content: d.text, message: message.trim() || `${creating ? "Create" : "Update"} ${target}` },
        d.base,
      ),
    onSuccess: async (r) => {
      await qc.invalidateQueries({ queryKey: codeKey(project.id) });
      if (r.changed) navigate(codeUrl(root, "blob", branch, target));
    },
    onError: async (e) => {
      if (!(e instanceof ApiError) || (e.code !== "branch-moved" && e.code !== "branch-exists")) return;
      const moved = typeof e.problem.head === "string" ? e.problem.head : null;
      let theirs: string | null = null;
      let theirHead = moved;
      try {
        const f = await fetchJson<RepoFile>(fileUrl(project.id, target, moved ?? branch, "json"));
        theirs = fileText(f);
        theirHead = theirHead ?? f.commit;
      } catch {
        theirs = null; // not on the branch (deleted there, or never made)
      }
      setConflict({ head: theirHead, theirs });
    },
  });

  if (loc.error) return <ErrorAlert error={loc.error} title="The repository could not be loaded" />;
  if (!creating && file.error) return <ErrorAlert error={file.error} title="This file cannot be edited" />;
  if (creating && head.error && !headMissing)
    return <ErrorAlert error={head.error} title="The branch could not be loaded" />;
  if (!draft) return <Loading label="Loading the file" />;

  const back = creating ? codeUrl(root, "tree", branch, loc.path) : codeUrl(root, "blob", branch, loc.path);
  const pathError =
    creating && !target
      ? "Name the file"
      : commit.error instanceof ApiError && commit.error.problem.field === "path"
        ? commit.error.message
        : undefined;
  const save = (base: string | null) => {
    setConflict(null);
    commit.mutate({ base, text: draft.text });
  };
  const refused = commit.error && !conflict && !pathError ? commit.error : null;
  return (
    <Stack gap="sm">
      <Title order={2} size="h4" style={{ wordBreak: "break-all" }}>
        {creating ? "New file" : `Edit ${loc.path}`} on {branch}
      </Title>
      {creating ? (
        <TextInput
          label="File path"
          description={`Relative to the repository's root; folders are made as needed (e.g. ${parentDir(newPath) || "src"}/name.py)`}
          value={newPath}
          onChange={(e) => setNewPath(e.currentTarget.value)}
          error={pathError}
          required
        />
      ) : null}
      <Code
        key={`${draft.key}:${creating ? "" : target}`}
        value={draft.text}
        path={target || "untitled.txt"}
        label={`Contents of ${target || "the new file"}`}
        onChange={(text) => setDraft((d) => (d ? { ...d, text } : d))}
      />
      {conflict ? (
        <Conflict
          conflict={conflict}
          branch={branch}
          mine={draft.text}
          busy={commit.isPending}
          onKeepMine={() => save(conflict.head)}
          onTakeTheirs={() => {
            const t = conflict.theirs ?? "";
            setDraft({ base: conflict.head, original: t, text: t, key: draft.key + 1 });
            setConflict(null);
            commit.reset();
          }}
        />
      ) : null}
      <TextInput
        label="Commit message"
        placeholder={`${creating ? "Create" : "Update"} ${target || "the file"}`}
        value={message}
        onChange={(e) => setMessage(e.currentTarget.value)}
      />
      <ErrorAlert error={refused} title="The commit was refused" />
      {commit.data && !commit.data.changed ? (
        <Text size="sm" role="status">
          Nothing to commit: the file on {branch} already has this content.
        </Text>
      ) : null}
      <Group gap="sm">
        <Button onClick={() => save(draft.base)} loading={commit.isPending} disabled={!target || !!conflict}>
          Commit to {branch}
        </Button>
        <Anchor component={Link} to={back} size="sm">
          Cancel
        </Anchor>
      </Group>
    </Stack>
  );
}
