// The organization's apps; each opens its connectors' overview.
import { useState } from "preact/hooks";
import { Link, useLocation } from "wouter-preact";
import { allPages, api, must } from "../api/client";
import { Async, ErrorBox } from "../components/states";
import { useAction, useAsync } from "../lib/async";
import { when } from "../lib/format";

export function AppsPage() {
  const apps = useAsync(
    () => allPages((cursor) => must(api.GET("/v1/apps", { params: { query: { limit: 100, cursor } } }))),
    [],
  );
  const [name, setName] = useState("");
  const create = useAction();
  const [, navigate] = useLocation();
  return (
    <>
      <h1>Apps</h1>
      <Async state={apps} what="apps" isEmpty={(a) => a.length === 0} empty="No apps yet: create one below.">
        {(list) => (
          <table>
            <caption class="sr-only">Your apps</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Description</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {list.map((a) => (
                <tr key={a.id}>
                  <td>
                    <Link href={`/apps/${a.id}`}>{a.name}</Link>
                  </td>
                  <td>{a.description}</td>
                  <td>{when(a.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Async>
      <form
        class="card row"
        onSubmit={async (e) => {
          e.preventDefault();
          const app = await create.run(() => must(api.POST("/v1/apps", { body: { name: name.trim() } })));
          if (app) navigate(`/apps/${app.id}`);
        }}
      >
        <label for="new-app">New app name</label>
        <input id="new-app" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
        <button class="primary" disabled={create.busy || name.trim() === ""}>
          Create app
        </button>
      </form>
      {create.error && <ErrorBox error={create.error} title="Could not create the app" />}
    </>
  );
}
