-- wrk script: submits a job with a JSON path input on every request (BENCH_INPUT names the file).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"path": "%s"}', os.getenv("BENCH_INPUT"))
