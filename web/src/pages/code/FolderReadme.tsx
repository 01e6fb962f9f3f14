// A folder's README below its listing (and on the project's overview): Markdown rendered by the
// lazily loaded react-markdown, other READMEs as plain text.
import { Paper, Text, Title } from "@mantine/core";
import { fileText, useFile } from "../../api/code";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { Readme } from "./lazy";

export function FolderReadme({
  projectId,
  base,
  refName,
  entry,
  dir,
}: {
  projectId: string;
  base: string;
  refName: string;
  entry: { path: string; name: string };
  dir: string;
}) {
  const f = useFile(projectId, refName, entry.path);
  return (
    <Paper withBorder p="md" component="section" aria-label={entry.name}>
      <Title order={3} size="h5" mb="xs">
        {entry.name}
      </Title>
      {f.isPending ? <Loading label="Loading the README" /> : null}
      <ErrorAlert error={f.error} title="The README could not be loaded" />
      {f.data && f.data.binary ? <Text size="sm">The README is not text.</Text> : null}
      {f.data && !f.data.binary ? (
        /\.(md|markdown)$/i.test(entry.name) ? (
          <Readme text={fileText(f.data)} projectId={projectId} base={base} refName={refName} dir={dir} />
        ) : (
          <Text component="pre" size="sm" style={{ whiteSpace: "pre-wrap" }}>
            {f.data.content}
          </Text>
        )
      ) : null}
    </Paper>
  );
}
