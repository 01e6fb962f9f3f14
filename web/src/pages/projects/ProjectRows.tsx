// A list of projects (home, search, an org's page): name linked to the project, where it lives,
// its visibility, tags and the caller's role; a search's words highlighted.
import { Anchor, Badge, Group, Mark, Paper, Stack, Text } from "@mantine/core";
import { Link } from "react-router";
import { highlight, projectPath, type Project } from "../../api/projects";

function Highlighted({ text, query }: { text: string; query?: string }) {
  if (!query) return <>{text}</>;
  return (
    <>
      {highlight(text, query).map(([t, hit], i) => (hit ? <Mark key={i}>{t}</Mark> : <span key={i}>{t}</span>))}
    </>
  );
}

export function ProjectRows({ items, query, label }: { items: Project[]; query?: string; label: string }) {
  return (
    <Stack gap="xs" component="ul" aria-label={label} style={{ listStyle: "none", padding: 0, margin: 0 }}>
      {items.map((p) => (
        <Paper component="li" key={p.id} withBorder p="sm">
          <Group gap="xs" wrap="wrap" justify="space-between">
            <Group gap="xs" wrap="wrap" style={{ minWidth: 0 }}>
              <Anchor component={Link} to={projectPath(p)} fw={600} style={{ overflowWrap: "anywhere" }}>
                <Highlighted text={p.name || p.slug} query={query} />
              </Anchor>
              <Text size="sm" c="dimmed" style={{ overflowWrap: "anywhere" }}>
                {p.org_slug ?? p.org_id}/{p.slug}
              </Text>
            </Group>
            <Group gap={4}>
              <Badge variant="default">{p.visibility}</Badge>
              {p.archived ? <Badge color="gray">archived</Badge> : null}
              {p.my_role ? <Badge variant="default">{p.my_role}</Badge> : null}
            </Group>
          </Group>
          {p.description ? (
            <Text size="sm" mt={4} lineClamp={2}>
              <Highlighted text={p.description} query={query} />
            </Text>
          ) : null}
          {p.tags.length ? (
            <Group gap={4} mt={4} aria-label="Tags">
              {p.tags.map((t) => (
                <Badge key={t} size="sm" variant="dot" tt="none">
                  <Highlighted text={t} query={query} />
                </Badge>
              ))}
            </Group>
          ) : null}
        </Paper>
      ))}
    </Stack>
  );
}
