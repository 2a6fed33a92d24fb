{
  "targets": [
    {
      "target_name": "cit-step",
      "type": "executable",
      "sources": ["step-launcher.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
