// /{org}/{project}/...: loads the project once and gives it to the pages below (useProject),
// with the project's header and its tabs.
import { Anchor, Badge, Group, Stack, Tabs, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { createContext, useContext } from "react";
import { Link, Outlet, useLocation, useNavigate, useParams } from "react-router";
import { ApiError, fetchJson } from "../../api/client";
import type { Project } from "../../api/projects";
import { NotFound } from "../../app/NotFound";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";

interface ProjectValue {
  project: Project;
  org: string; // the org's slug, as in the URL
  base: string; // "/{org}/{project}"
}

const ProjectContext = createContext<ProjectValue | null>(null);

export function useProject(): ProjectValue {
  const v = useContext(ProjectContext);
  if (!v) throw new Error("useProject outside /{org}/{project}");
  return v;
}

export function projectKey(org: string, slug: string) {
  return ["project", org, slug] as const;
}

const TABS = [
  { value: "overview", label: "Overview" },
  { value: "tree", label: "Code" },
  { value: "files", label: "Files" },
  { value: "datasets", label: "Datasets" },
  { value: "jobs", label: "Jobs" },
  { value: "envs", label: "Environments" },
  { value: "images", label: "Images" },
  { value: "secrets", label: "Secrets" },
  { value: "settings", label: "Settings" },
];

const CODE_VIEWS = new Set(["blob", "edit", "new", "commits", "commit", "compare", "branches"]);

export function ProjectShell() {
  const { org = "", project: slug = "" } = useParams();
  const loc = useLocation();
  const navigate = useNavigate();
  const q = useQuery({
    queryKey: projectKey(org, slug),
    queryFn: () =>
      fetchJson<Project>(`/api/v1/orgs/${encodeURIComponent(org)}/projects/${encodeURIComponent(slug)}`),
  });
  if (q.isPending) return <Loading />;
  // Missing and hidden read alike (the API answers 404 for both).
  if (q.error instanceof ApiError && q.error.status === 404) return <NotFound />;
  if (q.error) return <ErrorAlert error={q.error} title="This project could not be loaded" />;
  const base = `/${org}/${slug}`;
  const rest = loc.pathname.slice(base.length + 1);
  // The repository's views (blob, commits, ...) are all under the Code tab.
  const tab = CODE_VIEWS.has(rest.split("/")[0])
    ? "tree"
    : (TABS.find((t) => t.value !== "overview" && (rest === t.value || rest.startsWith(t.value + "/")))?.value ?? "overview");
  return (
    <ProjectContext.Provider value={{ project: q.data, org, base }}>
      <Stack gap="sm">
        <Group gap="xs" wrap="wrap">
          <Anchor component={Link} to={`/${org}`}>
            {org}
          </Anchor>
          <Text c="dimmed">/</Text>
          <Title order={1} size="h3" style={{ overflowWrap: "anywhere" }}>
            {q.data.name || q.data.slug}
          </Title>
          <Badge variant="default" title={`Visibility: ${q.data.visibility}`}>
            {q.data.visibility}
          </Badge>
          {q.data.archived ? <Badge color="gray">archived</Badge> : null}
        </Group>
        {q.data.archived ? (
          <Text size="sm" c="dimmed">
            This project is archived: it is read-only until an owner or maintainer unarchives it in Settings.
          </Text>
        ) : null}
        <Tabs value={tab} onChange={(v) => navigate(v && v !== "overview" ? `${base}/${v}` : base)}>
          {/* One row that scrolls sideways on a narrow screen rather than wrapping. */}
          <Tabs.List aria-label="Project sections" style={{ flexWrap: "nowrap", overflowX: "auto", overflowY: "hidden" }}>
            {TABS.map((t) => (
              <Tabs.Tab key={t.value} value={t.value} style={{ flex: "none" }}>
                {t.label}
              </Tabs.Tab>
            ))}
          </Tabs.List>
        </Tabs>
        <Outlet />
      </Stack>
    </ProjectContext.Provider>
  );
}
