module github.com/gambol99/go-marathon

go 1.13

require (
	github.com/donovanhide/eventsource v0.0.0-20210830082556-c59027999da0
	github.com/google/go-querystring v1.1.0
)
