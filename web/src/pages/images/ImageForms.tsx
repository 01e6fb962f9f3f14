// The three ways an image comes into a project: pulled from a registry, imported from a project
// file (.sif, squashfs, OCI archive), built from a spec in the repository. Each form shows the
// API's refusal at its field.
import { Alert, Anchor, Button, Checkbox, Select, Stack, Text, TextInput } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { ApiError, fetchJson, type ListPage } from "../../api/client";
import { projectApi, type FileInfo } from "../../api/data";
import { buildImage, getBuild, imageKeys, importImage, pullImage, type Build } from "../../api/images";
import { ErrorAlert } from "../../components/ErrorAlert";
import { InlineForm } from "../data/bits";

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const nameError = (n: string) => (n && !NAME_RE.test(n) ? "1-64 of a-z 0-9 . _ - starting with a letter or digit" : undefined);

function at(e: unknown, field: string): string | null {
  return e instanceof ApiError && e.problem.field === field ? e.message : null;
}

function useImagesChanged(projectId: string) {
  const qc = useQueryClient();
  return () => qc.invalidateQueries({ queryKey: imageKeys.project(projectId) });
}

export function PullForm({ projectId }: { projectId: string }) {
  const [name, setName] = useState("");
  const [source, setSource] = useState("");
  const [makeDefault, setMakeDefault] = useState(false);
  const changed = useImagesChanged(projectId);
  const m = useMutation({
    mutationFn: () => pullImage(projectId, { name: name.trim(), source: source.trim(), default: makeDefault }),
    onSuccess: async () => {
      setName("");
      setSource("");
      setMakeDefault(false);
      await changed();
    },
  });
  const nameErr = nameError(name.trim()) ?? at(m.error, "name");
  const sourceErr = at(m.error, "source");
  return (
    <InlineForm
      onSubmit={() => m.mutate()}
      footer={m.error && !nameErr && !sourceErr ? <ErrorAlert error={m.error} title="The image was not pulled" /> : null}
    >
      <TextInput label="Image name" description="in this project: analysis" value={name} onChange={(e) => setName(e.currentTarget.value)} error={nameErr} required />
      <TextInput
        label="Source"
        description="docker://host/repo:tag or host/repo@sha256:…"
        value={source}
        onChange={(e) => setSource(e.currentTarget.value)}
        error={sourceErr}
        required
        style={{ flex: 1, minWidth: 240 }}
      />
      <Checkbox label="Set as default" checked={makeDefault} onChange={(e) => setMakeDefault(e.currentTarget.checked)} mb={8} />
      <Button type="submit" loading={m.isPending} disabled={!name.trim() || !source.trim() || !!nameError(name.trim())}>
        Pull image
      </Button>
    </InlineForm>
  );
}

const IMAGE_FILE = /\.(sif|simg|squashfs|sqfs|img|tar|tar\.gz|tgz|oci)$/i;

export function ImportForm({ projectId }: { projectId: string }) {
  const [name, setName] = useState("");
  const [file, setFile] = useState<string | null>(null);
  const [format, setFormat] = useState<string | null>(null);
  const [makeDefault, setMakeDefault] = useState(false);
  const changed = useImagesChanged(projectId);
  const files = useQuery({
    queryKey: ["files", projectId, "image-files"],
    queryFn: () => fetchJson<ListPage<FileInfo>>(`${projectApi(projectId)}/files?limit=1000`),
  });
  const all = files.data?.items ?? [];
  const likely = all.filter((f) => IMAGE_FILE.test(f.path));
  const options = (likely.length ? likely : all).map((f) => f.path);
  const m = useMutation({
    mutationFn: () => importImage(projectId, { name: name.trim(), file: file ?? "", default: makeDefault, ...(format ? { format } : {}) }),
    onSuccess: async () => {
      setName("");
      setFile(null);
      setMakeDefault(false);
      await changed();
    },
  });
  const nameErr = nameError(name.trim()) ?? at(m.error, "name");
  const fileErr = at(m.error, "file") ?? at(m.error, "format");
  return (
    <InlineForm
      onSubmit={() => m.mutate()}
      footer={
        <>
          <ErrorAlert error={files.error} title="The project's files could not be listed" />
          {m.error && !nameErr && !fileErr ? <ErrorAlert error={m.error} title="The image was not imported" /> : null}
        </>
      }
    >
      <TextInput label="Image name" value={name} onChange={(e) => setName(e.currentTarget.value)} error={nameErr} required />
      <Select
        label="Project file"
        description="an Apptainer .sif, a squashfs or an OCI archive (upload it under Files)"
        data={options}
        value={file}
        onChange={(v) => setFile(v === null ? null : String(v))}
        searchable
        nothingFoundMessage={files.isPending ? "Loading…" : "No files: upload the image under Files first"}
        error={fileErr}
        required
        style={{ flex: 1, minWidth: 240 }}
      />
      <Select
        label="Format"
        data={[
          { value: "sif", label: "SIF (Apptainer)" },
          { value: "squashfs", label: "squashfs" },
          { value: "oci-archive", label: "OCI archive" },
        ]}
        placeholder="from the file"
        value={format}
        onChange={(v) => setFormat(v === null ? null : String(v))}
        clearable
        w={170}
      />
      <Checkbox label="Set as default" checked={makeDefault} onChange={(e) => setMakeDefault(e.currentTarget.checked)} mb={8} />
      <Button type="submit" loading={m.isPending} disabled={!name.trim() || !file || !!nameError(name.trim())}>
        Import
      </Button>
    </InlineForm>
  );
}

// A build in progress: asked about every 2 s until it is ready or failed; its log is its job's.
function BuildStatus({ projectId, build }: { projectId: string; build: Build }) {
  const changed = useImagesChanged(projectId);
  const q = useQuery({
    queryKey: ["image-build", projectId, build.id],
    queryFn: async () => {
      const b = await getBuild(projectId, build.id);
      if (b.state !== "running") await changed();
      return b;
    },
    initialData: build,
    refetchInterval: (query) => (query.state.data?.state === "running" ? 2000 : false),
  });
  const b = q.data ?? build;
  const log = b.job_id ? (
    <Anchor component={Link} to={`/jobs/${b.job_id}`}>
      the build job's log
    </Anchor>
  ) : null;
  if (b.state === "failed")
    return (
      <Alert color="red" role="alert" title="The build failed">
        <Text size="sm">
          {b.error || "See the log."} {log ? <>Read {log}.</> : null}
        </Text>
      </Alert>
    );
  if (b.state === "ready")
    return (
      <Alert color="green" role="status" title={b.cached ? "Built before: served from the cache" : "Built"}>
        <Text size="sm">
          The image {b.name ? <strong>{b.name}</strong> : null} is ready below. {log ? <>Its {log}.</> : null}
        </Text>
      </Alert>
    );
  return (
    <Alert color="blue" role="status" title="Building">
      <Text size="sm">The build runs as a job{log ? <>: follow {log}</> : null}.</Text>
    </Alert>
  );
}

export function BuildForm({ projectId }: { projectId: string }) {
  const [spec, setSpec] = useState("atrium-env.toml");
  const [ref, setRef] = useState("");
  const [build, setBuild] = useState<Build | null>(null);
  const changed = useImagesChanged(projectId);
  const m = useMutation({
    mutationFn: () => buildImage(projectId, { spec: spec.trim(), ...(ref.trim() ? { ref: ref.trim() } : {}) }),
    onSuccess: async (b) => {
      setBuild(b);
      await changed();
    },
  });
  const specErr = at(m.error, "spec");
  const refErr = at(m.error, "ref");
  return (
    <Stack gap="xs">
      <InlineForm
        onSubmit={() => {
          setBuild(null);
          m.mutate();
        }}
        footer={m.error && !specErr && !refErr ? <ErrorAlert error={m.error} title="The build did not start" /> : null}
      >
        <TextInput
          label="Spec file"
          description="in the repository: a base image, Debian and Python packages"
          value={spec}
          onChange={(e) => setSpec(e.currentTarget.value)}
          error={specErr}
          required
          style={{ flex: 1, minWidth: 220 }}
        />
        <TextInput label="Branch, tag or commit" description="empty: the default branch" value={ref} onChange={(e) => setRef(e.currentTarget.value)} error={refErr} />
        <Button type="submit" loading={m.isPending} disabled={!spec.trim()}>
          Build image
        </Button>
      </InlineForm>
      {build ? <BuildStatus key={build.id} projectId={projectId} build={build} /> : null}
    </Stack>
  );
}
