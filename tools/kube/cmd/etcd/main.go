// Command etcd is the upstream etcd server, unchanged: the storage of the cluster test
// suite's kube-apiserver.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
