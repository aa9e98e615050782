// Command etcd is upstream etcd's server command, unchanged: the root module go.etcd.io/etcd/v3 (where
// upstream's own main lives) has replace directives and cannot be `go install`ed, so this main calls the
// same entry point from go.etcd.io/etcd/server/v3 at the version k8s.io/kubernetes requires.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
