// A field for choosing a password, with the server's password rule in words (one place for it:
// src/identity's check_password).
import { PasswordInput } from "@mantine/core";

export function NewPasswordInput(props: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  error?: string;
}) {
  return (
    <PasswordInput
      label={props.label}
      description="At least 10 characters, not your username"
      autoComplete="new-password"
      required
      value={props.value}
      onChange={(e) => props.onChange(e.currentTarget.value)}
      error={props.error}
    />
  );
}
