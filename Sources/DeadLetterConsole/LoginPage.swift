/// The login form: the admin token in, an `HttpOnly; SameSite=Strict` session cookie out.
enum LoginPage {
    static func html(problem: String?) -> String {
        // `problem` is one of this file's own sentences, never request content.
        let message = problem.map { #"<p class="problem" role="alert">\#($0)</p>"# } ?? ""
        return #"""
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="referrer" content="same-origin">
            <title>Log in · dead letters · workmode-gateway</title>
            <link rel="stylesheet" href="/console/app.css">
            </head>
            <body class="login">
            <main>
            <h1>Dead letters</h1>
            <p>workmode-gateway console. Enter the admin token (<code>admin.token</code>).</p>
            \#(message)
            <form method="post" action="/console/login">
            <label for="token">Admin token</label>
            <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
            <button type="submit" id="login">Log in</button>
            </form>
            </main>
            </body>
            </html>
            """#
    }
}
