// Creating an organisation (instance admins only; the API refuses anyone else): on /admin/orgs, and
// on /new as the first organisation of a fresh server, where projects have nowhere to go until one
// exists. One form, so both say the same about slugs and show a field's error beside the field.
import { Button, Group, Paper, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { fetchJson } from "../api/client";
import { splitError } from "../api/fields";
import { ME_KEY } from "../auth/session";
import { ErrorAlert } from "./ErrorAlert";

export function CreateOrgForm({ first = false, onCreated }: { first?: boolean; onCreated?: () => unknown }) {
  const qc = useQueryClient();
  const [slug, setSlug] = useState("");
  const [name, setName] = useState("");
  const create = useMutation({
    mutationFn: () => fetchJson("/api/v1/orgs", { method: "POST", body: JSON.stringify({ slug: slug.trim(), name }) }),
    onSuccess: async () => {
      setSlug("");
      setName("");
      await onCreated?.();
      await qc.invalidateQueries({ queryKey: ["orgs"] });
      await qc.invalidateQueries({ queryKey: ME_KEY });
    },
  });
  const err = splitError(create.error, ["slug", "name"]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <Paper withBorder p="md" maw={first ? 560 : undefined}>
      <form onSubmit={submit} aria-label="Create an organisation">
        <Stack gap="sm">
          <Title order={2} size="h4">
            {first ? "Create the first organisation" : "Create an organisation"}
          </Title>
          {first ? (
            <Text size="sm">
              Projects belong to an organisation (an institute, a lab). As the instance admin you can create one; you
              then add people to it by invitation.
            </Text>
          ) : null}
          <Group align="flex-start" gap="sm" wrap="wrap">
            <TextInput
              label="Organisation slug"
              description="a-z, 0-9, '-', '_', '.': the first part of its projects' addresses"
              required
              value={slug}
              onChange={(e) => setSlug(e.currentTarget.value.toLowerCase())}
              error={err.fields.slug}
              autoCapitalize="none"
              style={{ flex: "1 1 14rem" }}
            />
            <TextInput
              label="Organisation name"
              required
              value={name}
              onChange={(e) => setName(e.currentTarget.value)}
              error={err.fields.name}
              style={{ flex: "1 1 14rem" }}
            />
          </Group>
          <ErrorAlert error={err.general} title="The organisation was not created" />
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
