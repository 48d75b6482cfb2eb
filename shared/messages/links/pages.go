package links

import "html/template"

// The pages share one small layout; html/template escapes every value
// (an organisation named <script> is shown, not run).
const layout = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{template "title" .}}</title>
<style>
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f6f6f4;color:#1d1d1b;margin:0}
main{max-width:28rem;margin:15vh auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.3rem;margin:0 0 1rem}
button{font:inherit;padding:.6rem 1.2rem;border:0;border-radius:6px;background:#1d1d1b;color:#fff;cursor:pointer}
</style>
</head>
<body><main>{{template "body" .}}</main></body>
</html>
`

// confirmPage asks to confirm: the form posts to the page's own URL.
var confirmPage = template.Must(template.Must(template.New("confirm").Parse(layout)).Parse(`
{{define "title"}}Unsubscribe{{end}}
{{define "body"}}<h1>Unsubscribe</h1>
<p><strong>{{.Email}}</strong> will no longer receive emails from <strong>{{.Org}}</strong>.</p>
<form method="post">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>{{end}}`))

// donePage confirms the unsubscription.
var donePage = template.Must(template.Must(template.New("done").Parse(layout)).Parse(`
{{define "title"}}Unsubscribed{{end}}
{{define "body"}}<h1>You are unsubscribed</h1>
<p>You will no longer receive these emails.</p>{{end}}`))
