// An empty repository says how to push the first commit, or to write a README in the browser.
import { Button, Code, Group, Paper, Stack, Text, Title } from "@mantine/core";
import { Link } from "react-router";
import type { RepoInfo } from "../../api/code";
import { CopyButton } from "../../components/CopyButton";
import { codeUrl } from "./refs";

export function EmptyRepo({ repo, base, canWrite }: { repo: RepoInfo; base: string; canWrite: boolean }) {
  const lines = [
    `git remote add origin ${repo.clone_url}`,
    `git push -u origin ${repo.default_branch}`,
  ];
  return (
    <Paper withBorder p="md">
      <Stack gap="sm">
        <Title order={2} size="h4">
          This repository is empty
        </Title>
        <Text size="sm">Push your first commit from a repository on your computer:</Text>
        <Group gap="xs" align="flex-start" wrap="nowrap">
          <Code block style={{ flex: 1, whiteSpace: "pre-wrap", wordBreak: "break-all" }}>
            {lines.join("\n")}
          </Code>
          <CopyButton value={lines.join("\n")} label="Copy the push commands" />
        </Group>
        {canWrite ? (
          <Group gap="xs">
            <Text size="sm">or start here:</Text>
            <Button component={Link} to={`${codeUrl(base, "new", repo.default_branch)}?name=README.md`} size="xs">
              Create README
            </Button>
          </Group>
        ) : null}
      </Stack>
    </Paper>
  );
}
