// /invite#<token>: accept an invitation (choose a username and password). Built out by the
// sign-in work; the token stays in the fragment, never sent to the server in the URL.
import { Center, Text } from "@mantine/core";

export default function Invite() {
  return (
    <Center mih="100vh">
      <Text>Invitations are accepted here.</Text>
    </Center>
  );
}
