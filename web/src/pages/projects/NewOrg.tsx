// The first organisation, for an instance admin on a fresh server: projects live in an org, and
// until one exists there is nowhere to create them.
import { Button, Group, Paper, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ApiError, fetchJson } from "../../api/client";
import { ErrorAlert } from "../../components/ErrorAlert";
import { ME_KEY } from "../../auth/session";

export function NewOrg() {
  const qc = useQueryClient();
  const [slug, setSlug] = useState("");
  const [name, setName] = useState("");
  const create = useMutation({
    mutationFn: () => fetchJson("/api/v1/orgs", { method: "POST", body: JSON.stringify({ slug, name }) }),
    onSuccess: async () => {
      await qc.invalidateQueries({ queryKey: ["orgs"] });
      await qc.invalidateQueries({ queryKey: ME_KEY });
    },
  });
  const fieldError = (f: string) =>
    create.error instanceof ApiError && create.error.problem.field === f ? create.error.message : undefined;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <Paper withBorder p="md" maw={520}>
      <form onSubmit={submit} aria-label="Create an organisation">
        <Stack gap="sm">
          <Title order={2} size="h4">
            Create the first organisation
          </Title>
          <Text size="sm">
            Projects belong to an organisation (an institute, a lab). As the instance admin you can create one; you
            then add people to it by invitation.
          </Text>
          <TextInput
            label="Organisation slug"
            description="Letters, digits, '-', '_' or '.'; the first part of its projects' addresses"
            required
            value={slug}
            onChange={(e) => setSlug(e.currentTarget.value.toLowerCase())}
            error={fieldError("slug")}
          />
          <TextInput
            label="Organisation name"
            required
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={fieldError("name")}
          />
          {create.error && !fieldError("slug") && !fieldError("name") ? (
            <ErrorAlert error={create.error} title="The organisation was not created" />
          ) : null}
          <Group>
            <Button type="submit" loading={create.isPending}>
              Create organisation
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  );
}
