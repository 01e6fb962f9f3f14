// /{org}/{project}/blob/<ref>/<path>: one file at a ref, highlighted by CodeMirror (read-only,
// loaded lazily with only the file's language), with raw/download links. Binary and too-large
// files are said in words.
import { Anchor, Alert, Button, Group, Stack, Text, Title } from "@mantine/core";
import { Link, useNavigate } from "react-router";
import { ApiError } from "../../api/client";
import { fileText, fileUrl, formatSize, useFile } from "../../api/code";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { CodeHeader } from "./CodeHeader";
import { Code } from "./lazy";
import { useCodeLocation } from "./location";
import { canWrite, codeUrl } from "./refs";

function lineCount(text: string): number {
  if (!text) return 0;
  return text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
}

export default function Blob() {
  const loc = useCodeLocation();
  const navigate = useNavigate();
  const { project, base, ref, path } = loc;
  const f = useFile(project.id, ref, path, loc.ready && !!path);
  if (loc.error) return <ErrorAlert error={loc.error} title="The repository could not be loaded" />;
  if (!loc.ready || f.isPending) return <Loading label="Loading the file" />;
  const name = path.slice(path.lastIndexOf("/") + 1);
  const raw = fileUrl(project.id, path, ref, "raw");
  const tooLarge = f.error instanceof ApiError && f.error.code === "file-too-large";
  return (
    <Stack gap="sm">
      <Title order={2} size="h4" style={{ wordBreak: "break-all" }}>
        {name}
      </Title>
      <CodeHeader loc={loc} view="blob" onPick={(r) => navigate(codeUrl(base, "blob", r, path))}>
        {f.data && !f.data.binary && loc.isBranch && canWrite(project.my_role) ? (
          <Button component={Link} to={codeUrl(base, "edit", ref, path)} size="xs" variant="default">
            Edit
          </Button>
        ) : null}
      </CodeHeader>
      {tooLarge ? (
        <Alert color="gray" title="This file is too large to show here" role="alert">
          {f.error.message}
        </Alert>
      ) : (
        <ErrorAlert error={f.error} title="This file could not be loaded" />
      )}
      {f.data ? (
        <>
          <Group gap="sm" wrap="wrap">
            <Text size="sm">
              {formatSize(f.data.size)}
              {f.data.binary ? " · binary" : ` · ${lineCount(fileText(f.data))} lines`}
            </Text>
            <Anchor href={raw} size="sm">
              Raw
            </Anchor>
            <Anchor href={raw} download={name} size="sm">
              Download
            </Anchor>
          </Group>
          {f.data.binary ? (
            <Alert color="gray" title="Binary file">
              This file is not text ({formatSize(f.data.size)}); download it to open it.
            </Alert>
          ) : (
            <Code key={`${ref}:${path}:${f.data.id}`} value={fileText(f.data)} path={path} label={`Contents of ${path}`} readOnly />
          )}
        </>
      ) : null}
    </Stack>
  );
}
