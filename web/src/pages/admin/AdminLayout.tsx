// /admin/*: the instance's administration (instance administrators only), one tab per page.
import { Stack, Title } from "@mantine/core";
import { Outlet } from "react-router";
import { useMe } from "../../auth/session";
import { ADMIN_PAGES } from "../../auth/can";
import { TabNav } from "../../components/TabNav";
import { Forbidden } from "../../components/Forbidden";

const TABS = ADMIN_PAGES.map((p) => ({ to: `/admin/${p.path}`, label: p.label }));

export default function AdminLayout() {
  const me = useMe();
  return (
    <Stack gap="md" maw={1280}>
      <Title order={1}>Instance administration</Title>
      {me.instance_admin ? (
        <>
          <TabNav label="Instance administration" tabs={TABS} exact={false} />
          <Outlet />
        </>
      ) : (
        <Forbidden what="administer this instance" />
      )}
    </Stack>
  );
}
