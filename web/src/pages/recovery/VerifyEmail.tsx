// /verify-email#<token>: proves the address a link was mailed to (once). Works signed in or not.
import { Alert } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { fragmentToken, post } from "../../api/recovery";
import { ME_KEY } from "../../auth/session";
import { Loading } from "../../components/Loading";
import { Card, MissingToken } from "./Card";

export default function VerifyEmail() {
  const [token] = useState(fragmentToken);
  const qc = useQueryClient();
  const verify = useMutation({
    mutationFn: () => post<{ email: string }>("/api/v1/auth/verify-email", { token }),
    onSuccess: () => qc.invalidateQueries({ queryKey: ME_KEY }),
  });
  const { mutate } = verify;
  const sent = useRef(false); // a link works once: never send it twice (React's dev double effects)
  useEffect(() => {
    if (token && !sent.current) {
      sent.current = true;
      mutate();
    }
  }, [token, mutate]);

  let body;
  if (!token) body = <MissingToken what="verification" />;
  else if (verify.isSuccess)
    body = (
      <Alert color="green" variant="light" role="status">
        {verify.data.email} is verified. Thank you.
      </Alert>
    );
  else if (verify.isError)
    body = (
      <Alert color="red" variant="light" role="alert">
        This link is invalid, has expired or was used already. Ask for a new one in your account's profile.
      </Alert>
    );
  else body = <Loading label="Verifying your email address" />;
  return <Card title="Verify your email">{body}</Card>;
}
