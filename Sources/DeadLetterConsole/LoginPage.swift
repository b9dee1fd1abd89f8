/// The login form: the admin token in, an `HttpOnly; SameSite=Strict` session cookie out.
enum LoginPage {
    static func html(problem: String?) -> String {
        // `problem` is one of this file's own sentences, never request content.
        let message = problem.map { #"<p class="problem" role="alert">\#($0)</p>"# } ?? ""
        return ConsolePage.head(title: "Log in · dead letters · workmode-gateway") + #"""
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
