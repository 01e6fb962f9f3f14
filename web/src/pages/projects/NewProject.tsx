// /new: create a project in one of my orgs. The slug is checked as the user types with the API's
// rule; a server error is shown at the field it names (problem.field), anything else beside the
// button. On success: the project's page.
import { Anchor, Button, Group, Radio, Select, Stack, TagsInput, Textarea, TextInput, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { ApiError, fetchJson } from "../../api/client";
import {
  problemField,
  projectPath,
  slugError,
  slugFromName,
  tagError,
  VISIBILITIES,
  VISIBILITY_TEXT,
  type Project,
  type Visibility,
} from "../../api/projects";
import { EmptyState } from "../../components/EmptyState";
import { CreateOrgForm } from "../../components/CreateOrgForm";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { useCreatableOrgs } from "./useCreatableOrgs";
import { useMe } from "../../auth/session";
import { newIdempotencyKey } from "../../api/conventions";

export default function NewProject() {
  const { orgs, pending, error } = useCreatableOrgs();
  const me = useMe();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [params] = useSearchParams();
  const [org, setOrg] = useState<string | null>(params.get("org"));
  const [name, setName] = useState("");
  const [slug, setSlug] = useState("");
  const [slugEdited, setSlugEdited] = useState(false);
  const [visibility, setVisibility] = useState<Visibility>("private");
  const [description, setDescription] = useState("");
  const [tags, setTags] = useState<string[]>([]);
  const [submitted, setSubmitted] = useState(false);
  // One key per content of the form: a retried click never makes two projects, and an edit after
  // an error is a new request.
  const [idemKey, setIdemKey] = useState(newIdempotencyKey);

  const create = useMutation({
    mutationFn: (orgId: string) =>
      fetchJson<Project>(`/api/v1/orgs/${encodeURIComponent(orgId)}/projects`, {
        method: "POST",
        headers: { "Idempotency-Key": idemKey },
        body: JSON.stringify({ slug, name: name.trim(), description, tags, visibility }),
      }),
    onSuccess: (p) => {
      void qc.invalidateQueries({ queryKey: ["projects"] });
      void qc.invalidateQueries({ queryKey: ["activity"] });
      navigate(projectPath(p));
    },
  });

  // Any edit clears the last server error and makes the next submit a new request.
  const edited = () => {
    if (create.error) create.reset();
    setIdemKey(newIdempotencyKey());
  };

  if (pending) return <Loading />;
  if (error) return <ErrorAlert error={error} title="Your organisations could not be loaded" />;
  const orgId = orgs.find((o) => o.id === org || o.slug === org)?.id ?? (orgs.length === 1 ? orgs[0].id : null);
  const serverError = create.error instanceof ApiError ? create.error : null;
  const field = problemField(serverError?.problem);
  const at = (f: string) => (field === f && serverError ? serverError.message : null);

  const slugProblem = slug || submitted ? slugError(slug) : null;
  const errors = {
    org: submitted && !orgId ? "Choose the organisation the project belongs to" : at("org"),
    name: submitted && !name.trim() ? "Give the project a name" : at("name"),
    slug: slugProblem ?? at("slug"),
    tags: tagError(tags) ?? at("tags"),
    description: at("description"),
    visibility: at("visibility"),
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setSubmitted(true);
    if (!orgId || !name.trim() || slugError(slug) || tagError(tags)) return;
    create.mutate(orgId);
  };

  if (!orgs.length && me.instance_admin)
    return (
      <Stack>
        <Title order={1}>New project</Title>
        <CreateOrgForm first />
      </Stack>
    );
  if (!orgs.length)
    return (
      <Stack>
        <Title order={1}>New project</Title>
        <EmptyState title="You may not create projects in any organisation">
          Ask an administrator of your organisation for the member role, or open a project shared with you from{" "}
          <Anchor component={Link} to="/">
            your home page
          </Anchor>
          .
        </EmptyState>
      </Stack>
    );

  return (
    <Stack maw={640}>
      <Title order={1}>New project</Title>
      <form onSubmit={submit} noValidate aria-label="New project">
        <Stack gap="md">
          <Select
            label="Organisation"
            required
            data={orgs.map((o) => ({ value: o.id, label: o.name && o.name !== o.slug ? `${o.name} (${o.slug})` : o.slug }))}
            value={orgId}
            onChange={(v) => {
              setOrg(v);
              edited();
            }}
            error={errors.org}
            allowDeselect={false}
            searchable={orgs.length > 8}
            comboboxProps={{ withinPortal: true }}
          />
          <TextInput
            label="Name"
            required
            value={name}
            maxLength={200}
            onChange={(e) => {
              const v = e.currentTarget.value;
              setName(v);
              edited();
              if (!slugEdited) setSlug(slugFromName(v));
            }}
            error={errors.name}
          />
          <TextInput
            label="Slug"
            required
            description={`The project's address: /${orgs.find((o) => o.id === orgId)?.slug ?? "org"}/${slug || "slug"} (a-z, 0-9, - _ .)`}
            value={slug}
            maxLength={80}
            autoCapitalize="none"
            autoCorrect="off"
            spellCheck={false}
            onChange={(e) => {
              setSlug(e.currentTarget.value);
              setSlugEdited(true);
              edited();
            }}
            error={errors.slug}
          />
          <Radio.Group label="Visibility" value={visibility} onChange={(v) => {
              setVisibility(v as Visibility);
              edited();
            }} error={errors.visibility}>
            <Stack gap={6} mt={4}>
              {VISIBILITIES.map((v) => (
                <Radio key={v} value={v} label={VISIBILITY_TEXT[v]} />
              ))}
            </Stack>
          </Radio.Group>
          <Textarea
            label="Description"
            value={description}
            maxLength={4000}
            autosize
            minRows={2}
            onChange={(e) => {
              setDescription(e.currentTarget.value);
              edited();
            }}
            error={errors.description}
          />
          <TagsInput
            label="Tags"
            description="Press Enter after each tag"
            value={tags}
            onChange={(v) => {
              setTags(v.map((t) => t.trim().toLowerCase()).filter(Boolean));
              edited();
            }}
            error={errors.tags}
            maxTags={20}
            clearable
          />
          {serverError && !field ? <ErrorAlert error={serverError} title="The project was not created" /> : null}
          {create.error && !serverError ? <ErrorAlert error={create.error} title="The project was not created" /> : null}
          <Group>
            <Button type="submit" loading={create.isPending}>
              Create project
            </Button>
            <Button variant="default" component={Link} to="/">
              Cancel
            </Button>
          </Group>
        </Stack>
      </form>
    </Stack>
  );
}
