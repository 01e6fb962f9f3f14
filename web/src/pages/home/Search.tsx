// /search?q=: the projects the caller can see whose name, description or tags match (the API's
// full-text search: every word, as a word prefix), highlighted, with the API's cursor.
import { Button, Group, Stack, Text, TextInput, Title } from "@mantine/core";
import { useEffect, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import type { Project } from "../../api/projects";
import { LoadMore, useCursorList, withQuery } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { ProjectRows } from "../projects/ProjectRows";

export default function Search() {
  const [params, setParams] = useSearchParams();
  const q = (params.get("q") ?? "").trim();
  const [text, setText] = useState(q);
  useEffect(() => setText(q), [q]);
  const list = useCursorList<Project>(["projects", "list", "search", q], withQuery("/api/v1/projects", { q }), 20, q !== "");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setParams(text.trim() ? { q: text.trim() } : {});
  };
  return (
    <Stack gap="md">
      <Title order={1}>Search projects</Title>
      <form onSubmit={submit} role="search" aria-label="Search projects on this page">
        <Group gap="xs" align="flex-end" wrap="nowrap">
          <TextInput
            label="Words in a project's name, description or tags"
            value={text}
            onChange={(e) => setText(e.currentTarget.value)}
            style={{ flex: 1 }}
            maxLength={200}
          />
          <Button type="submit">Search</Button>
        </Group>
      </form>
      {q === "" ? (
        <EmptyState title="Type what you are looking for">
          Every word must match the start of a word in a project's name, description or tags.
        </EmptyState>
      ) : list.isPending ? (
        <Loading label="Searching" />
      ) : list.error ? (
        <ErrorAlert error={list.error} title="The search failed" />
      ) : list.items.length ? (
        <>
          <Text size="sm" c="dimmed" role="status">
            {list.hasNextPage ? `The first ${list.items.length} projects` : `${list.items.length} ${list.items.length === 1 ? "project" : "projects"}`} matching “{q}”
          </Text>
          <ProjectRows items={list.items} query={q} label="Search results" />
          <LoadMore {...list} />
        </>
      ) : (
        <EmptyState title={`No project you can see matches “${q}”`}>
          Try fewer or shorter words, or <Link to="/new">create a project</Link>.
        </EmptyState>
      )}
    </Stack>
  );
}
