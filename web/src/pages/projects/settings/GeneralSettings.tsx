// Settings: name, description, visibility and tags. Saved with If-Match on the version the form
// was loaded from; a 412 (someone else saved meanwhile) is shown as a conflict with a reload.
import { Alert, Button, Group, Radio, Stack, TagsInput, Textarea, TextInput, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { ApiError, fetchJson } from "../../../api/client";
import {
  problemField,
  projectApi,
  tagError,
  VISIBILITIES,
  VISIBILITY_TEXT,
  type Project,
  type Visibility,
} from "../../../api/projects";
import { ErrorAlert } from "../../../components/ErrorAlert";
import { projectKey } from "../ProjectShell";
import { etagVersion } from "../../../api/conventions";

interface Draft {
  name: string;
  description: string;
  visibility: Visibility;
  tags: string[];
}

const draftOf = (p: Project): Draft => ({
  name: p.name,
  description: p.description,
  visibility: p.visibility,
  tags: p.tags,
});

// Only what changed goes to the server.
function changes(p: Project, d: Draft): Partial<Draft> {
  const out: Partial<Draft> = {};
  if (d.name.trim() !== p.name) out.name = d.name.trim();
  if (d.description !== p.description) out.description = d.description;
  if (d.visibility !== p.visibility) out.visibility = d.visibility;
  if (d.tags.join(" ") !== p.tags.join(" ")) out.tags = d.tags;
  return out;
}

export function GeneralSettings({ project, org, canEdit }: { project: Project; org: string; canEdit: boolean }) {
  const qc = useQueryClient();
  const [draft, setDraft] = useState<Draft>(() => draftOf(project));
  // The version the form's values came from: the If-Match of the save.
  const [base, setBase] = useState<Project>(project);
  const set = (d: Partial<Draft>) => {
    setDraft((x) => ({ ...x, ...d }));
    if (save.error && !(save.error instanceof ApiError && save.error.status === 412)) save.reset();
  };
  const save = useMutation({
    mutationFn: (body: Partial<Draft>) =>
      fetchJson<Project>(projectApi(project.id), {
        method: "PATCH",
        headers: { "If-Match": base.etag },
        body: JSON.stringify(body),
      }),
    onSuccess: (p) => {
      qc.setQueryData(projectKey(org, project.slug), p);
      void qc.invalidateQueries({ queryKey: ["projects"] });
      setBase(p);
      setDraft(draftOf(p));
    },
  });
  const resetSave = save.reset;
  // A newer copy of the project arrived (archived, saved elsewhere on this page): an untouched form
  // follows it.
  const pristine = Object.keys(changes(base, draft)).length === 0;
  useEffect(() => {
    if (etagVersion(project.etag) > etagVersion(base.etag) && pristine) {
      setBase(project);
      setDraft(draftOf(project));
      resetSave(); // an earlier "Saved." is about another version
    }
  }, [project, base.etag, pristine, resetSave]);
  const reload = async () => {
    const fresh = await qc.fetchQuery({
      queryKey: projectKey(org, project.slug),
      queryFn: () => fetchJson<Project>(projectApi(project.id)),
      staleTime: 0,
    });
    setBase(fresh);
    setDraft(draftOf(fresh));
    save.reset();
  };

  const readOnly = !canEdit || project.archived;
  const conflict = save.error instanceof ApiError && save.error.status === 412;
  const apiError = save.error instanceof ApiError ? save.error : null;
  const field = problemField(apiError?.problem);
  const at = (f: string) => (field === f && apiError ? apiError.message : null);
  const diff = changes(base, draft);
  const nameMissing = draft.name.trim() === "";
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (nameMissing || tagError(draft.tags) || Object.keys(diff).length === 0) return;
    save.mutate(diff);
  };

  return (
    <Stack component="section" aria-labelledby="settings-general" gap="sm">
      <Title order={2} size="h4" id="settings-general">
        General
      </Title>
      <form onSubmit={submit} noValidate aria-label="General settings">
        <Stack gap="sm" maw={640}>
          <TextInput
            label="Name"
            required
            readOnly={readOnly}
            maxLength={200}
            value={draft.name}
            onChange={(e) => set({ name: e.currentTarget.value })}
            error={nameMissing ? "Give the project a name" : at("name")}
          />
          <Textarea
            label="Description"
            readOnly={readOnly}
            maxLength={4000}
            autosize
            minRows={2}
            value={draft.description}
            onChange={(e) => set({ description: e.currentTarget.value })}
            error={at("description")}
          />
          <Radio.Group
            label="Visibility"
            value={draft.visibility}
            onChange={(v) => set({ visibility: v as Visibility })}
            error={at("visibility")}
          >
            <Stack gap={6} mt={4}>
              {VISIBILITIES.map((v) => (
                <Radio key={v} value={v} label={VISIBILITY_TEXT[v]} disabled={readOnly} />
              ))}
            </Stack>
          </Radio.Group>
          <TagsInput
            label="Tags"
            description={readOnly ? undefined : "Press Enter after each tag"}
            readOnly={readOnly}
            value={draft.tags}
            onChange={(v) => set({ tags: v.map((t) => t.trim().toLowerCase()).filter(Boolean) })}
            error={tagError(draft.tags) ?? at("tags")}
            maxTags={20}
          />
          {conflict ? (
            <Alert color="orange" title="Someone else changed this project meanwhile" role="alert">
              Your changes were not saved. Reload to see the project as it is now, then make your changes again.
              <Group mt="xs">
                <Button size="xs" variant="default" onClick={() => void reload()}>
                  Reload the project
                </Button>
              </Group>
            </Alert>
          ) : apiError && !field ? (
            <ErrorAlert error={apiError} title="The settings were not saved" />
          ) : save.error && !apiError ? (
            <ErrorAlert error={save.error} title="The settings were not saved" />
          ) : null}
          {save.isSuccess && Object.keys(diff).length === 0 ? (
            <Alert color="green" variant="light" role="status">
              Saved.
            </Alert>
          ) : null}
          {readOnly ? null : (
            <Group>
              <Button type="submit" loading={save.isPending} disabled={Object.keys(diff).length === 0}>
                Save changes
              </Button>
              <Button variant="default" disabled={Object.keys(diff).length === 0} onClick={() => setDraft(draftOf(base))}>
                Discard
              </Button>
            </Group>
          )}
        </Stack>
      </form>
    </Stack>
  );
}
