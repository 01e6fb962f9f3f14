// What the job submit form and the environment launch form share: the image to run on (the
// project's ready images, its default first, or the host system), the datasets to mount (latest
// or a pinned version) and the secrets to give (the user's and the project's, by name).
import { MultiSelect, Select } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { ApiError } from "../api/client";
import { DEFAULT_IMAGE, imageKeys, listAllImages, shortDigest, type Image } from "../api/images";
import { listDatasets } from "../api/jobs";
import { listAllSecrets, mySecretsPath, projectSecretsPath, secretKeys } from "../api/secrets";
import { ErrorAlert } from "./ErrorAlert";

// A server without the feature (404 on its list) shows no picker rather than an error.
const missing = (e: unknown) => e instanceof ApiError && e.status === 404;

export function datasetOptions(ds: { name: string; latest: number | null }[]) {
  const out: { value: string; label: string }[] = [];
  for (const d of ds) {
    if (!d.latest || d.latest < 1) continue;
    out.push({ value: d.name, label: `${d.name} (latest, v${d.latest})` });
    for (let n = d.latest; n >= Math.max(1, d.latest - 4); n--) out.push({ value: `${d.name}@${n}`, label: `${d.name}@${n}` });
  }
  return out;
}

export function DatasetsPicker({ projectId, value, onChange, error }: { projectId: string; value: string[]; onChange: (v: string[]) => void; error?: string | null }) {
  const datasets = useQuery({ queryKey: ["datasets", projectId], queryFn: () => listDatasets(projectId) });
  return (
    <>
      <MultiSelect
        label="Datasets"
        description="mounted read-only at /data/<name>: the latest version or a pinned one (name@N)"
        data={datasetOptions(datasets.data?.items ?? [])}
        value={value}
        onChange={onChange}
        searchable
        nothingFoundMessage={datasets.isPending ? "Loading…" : "This project has no datasets yet"}
        error={error}
      />
      <ErrorAlert error={datasets.error} title="The project's datasets could not be loaded" />
    </>
  );
}

// appImage: an environment app's own image, which a launch naming none runs on.
export function imageOptions(images: Image[], appImage?: string) {
  const ready = images.filter((i) => i.state === "ready" && i.digest);
  const def = appImage ? undefined : ready.find((i) => i.default);
  const label = (i: Image) => `${i.name} (${shortDigest(i.digest)})`;
  const out: { value: string; label: string }[] = [];
  if (appImage) out.push({ value: DEFAULT_IMAGE, label: `${appImage}, the app's image` });
  else if (def) out.push({ value: DEFAULT_IMAGE, label: `${label(def)}, the project's default` });
  else out.push({ value: DEFAULT_IMAGE, label: "Host system (the project has no default image)" });
  for (const i of ready) if (i !== def) out.push({ value: `${i.name}@${i.digest}`, label: label(i) });
  if (def || appImage) out.push({ value: "none", label: "Host system" });
  return out;
}

export function ImagePicker({
  projectId,
  value,
  onChange,
  error,
  appImage,
}: {
  projectId: string;
  value: string;
  onChange: (v: string) => void;
  error?: string | null;
  appImage?: string;
}) {
  const images = useQuery({ queryKey: imageKeys.project(projectId), queryFn: () => listAllImages(projectId) });
  if (missing(images.error)) return null;
  return (
    <>
      <Select
        label="Image"
        description="the software it runs on, mounted read-only as /"
        data={imageOptions(images.data ?? [], appImage)}
        value={value}
        onChange={(v) => onChange(v ?? DEFAULT_IMAGE)}
        allowDeselect={false}
        error={error}
      />
      <ErrorAlert error={images.error} title="The project's images could not be loaded" />
    </>
  );
}

export function secretOptions(names: string[]) {
  const out: { value: string; label: string }[] = [];
  for (const n of [...new Set(names)].sort()) {
    out.push({ value: n, label: `${n} (variable)` });
    out.push({ value: `${n}:file`, label: `${n} as /run/secrets/${n}` });
  }
  return out;
}

// Each name once (as a variable or as a file).
export function checkSecrets(v: string[]): string | undefined {
  const names = v.map((s) => s.split(":")[0]);
  if (new Set(names).size !== names.length) return "a secret is named twice";
  if (v.length > 32) return "at most 32 secrets";
  return undefined;
}

export function SecretsPicker({ projectId, value, onChange, error }: { projectId: string; value: string[]; onChange: (v: string[]) => void; error?: string | null }) {
  const mine = useQuery({ queryKey: secretKeys.at(mySecretsPath), queryFn: () => listAllSecrets(mySecretsPath) });
  const path = projectSecretsPath(projectId);
  const project = useQuery({ queryKey: secretKeys.at(path), queryFn: () => listAllSecrets(path) });
  if (missing(mine.error) && missing(project.error)) return null;
  const names = [...(mine.data ?? []), ...(project.data ?? [])].map((s) => s.name);
  const err = (mine.error && !missing(mine.error) ? mine.error : null) ?? (project.error && !missing(project.error) ? project.error : null);
  return (
    <>
      <MultiSelect
        label="Secrets"
        description="yours first, then the project's: as an environment variable or a file"
        data={secretOptions(names)}
        value={value}
        onChange={onChange}
        searchable
        nothingFoundMessage={mine.isPending || project.isPending ? "Loading…" : "No secrets: add them under Your account, Secrets"}
        error={error ?? checkSecrets(value)}
      />
      <ErrorAlert error={err} title="The secrets could not be listed" />
    </>
  );
}
