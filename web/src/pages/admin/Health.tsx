// PLACEHOLDER (issue 20): replaced by the page's owner.
export default function Health() {
  return <p>Health</p>;
}
