// /me/secrets: the user's own secrets (API keys, tokens for outside services), given to the jobs
// and environments that ask for them by name.
import { Stack, Title } from "@mantine/core";
import { mySecretsPath } from "../../api/secrets";
import { SecretsPanel } from "./SecretsPanel";

export default function MySecrets() {
  return (
    <Stack component="section" aria-labelledby="secrets-title">
      <Title order={2} size="h3" id="secrets-title">
        Secrets
      </Title>
      <SecretsPanel
        path={mySecretsPath}
        note={
          <>
            Your secrets go to your own jobs and environments that name them: as an environment variable (NAME) or a file
            (NAME:file, at /run/secrets/NAME). They are stored encrypted and never shown again, in logs or here. A project
            secret of the same name is used only when you have none.
          </>
        }
      />
    </Stack>
  );
}
