#!/bin/sh
# SeaweedFS in one process (master, volume, filer, S3 gateway) with one S3 identity from the environment, so
# that the keys are the same AWS_* values the Airflow services use.
set -eu
mkdir -p /data /etc/seaweedfs
cat > /etc/seaweedfs/s3.json <<JSON
{
  "identities": [
    {
      "name": "corpus-etl",
      "credentials": [{"accessKey": "${S3_ACCESS_KEY}", "secretKey": "${S3_SECRET_KEY}"}],
      "actions": ["Admin", "Read", "Write", "List", "Tagging"]
    }
  ]
}
JSON
exec weed server -dir=/data -ip.bind=0.0.0.0 -volume.max=0 -master.volumeSizeLimitMB=1024 \
  -s3 -s3.port=8333 -s3.config=/etc/seaweedfs/s3.json
