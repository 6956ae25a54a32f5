module podtrace.local/hack/tools

go 1.24
