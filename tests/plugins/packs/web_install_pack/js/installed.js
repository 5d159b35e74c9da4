// Written for Plexus's tests: a script an old-style pack copies into the server's web root.
window.webInstallPackInstalled = true;
