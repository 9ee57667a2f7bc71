package node

import (
	"net/http"
)

// refuseJSONP answers 400 to any request with Mesos' ?jsonp= parameter
// (https://mesos.apache.org/documentation/latest/endpoints/: the JSON
// endpoints wrap their answer in the named callback). A JSONP answer is a
// script any web page may load with the browser's credentials, so with a
// signed-in UI session it would hand the cluster's state to whichever page
// asked (cross-site script inclusion); nodectl does not serve it, and says
// so instead of ignoring the parameter.
func refuseJSONP(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("jsonp") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"message":"the jsonp parameter is not supported: a JSONP answer could be read by any web page with a signed-in user's session; call the endpoint without it (CORS-free clients: curl, the CLI, the operator API)"}` + "\n"))
			return
		}
		h.ServeHTTP(w, r)
	})
}
