module github.com/mesos/mesos-go

go 1.13

require (
	github.com/gogo/protobuf v1.3.2
	github.com/pborman/uuid v1.2.1
	github.com/pquerna/ffjson v0.0.0-20190930134022-aa0246cd15f7
	github.com/prometheus/client_golang v0.9.4
)
