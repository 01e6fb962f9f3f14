// Home: the projects the caller is a member of (?mine=true), with the API's cursor.
import { Button } from "@mantine/core";
import { Link } from "react-router";
import type { Project } from "../../api/projects";
import { LoadMore, useCursorList } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ProjectRows } from "../projects/ProjectRows";
import { Section } from "./Section";

export function MyProjects() {
  const list = useCursorList<Project>(["projects", "list", "mine"], "/api/v1/projects?mine=true", 20);
  return (
    <Section
      title="Your projects"
      pending={list.isPending}
      error={list.error}
      action={
        <Button component={Link} to="/new" size="xs">
          New project
        </Button>
      }
    >
      {list.items.length ? (
        <>
          <ProjectRows items={list.items} label="Your projects" />
          <LoadMore {...list} />
        </>
      ) : (
        <EmptyState title="No projects yet">
          Create your first project with <strong>New project</strong>: it holds your code, data, jobs and
          environments. Projects others share with you appear here once they add you; the search box finds
          the ones open to your organisation.
        </EmptyState>
      )}
    </Section>
  );
}
