// PLACEHOLDER (issue 20): replaced by the page's owner.
export default function Orgs() {
  return <p>Orgs</p>;
}
