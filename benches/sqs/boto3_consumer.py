"""The reference consumer for `benches/sqs/main.rs`: boto3 draining an SQS queue the
usual way (threads each receiving ten messages per long poll and deleting them in
one batch call). Prints the drain time and the messages read as JSON.

    python boto3_consumer.py ENDPOINT QUEUE_URL MESSAGES THREADS
"""
import json, sys, threading, time

import boto3

endpoint, url, want, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
lock = threading.Lock()
got = 0
start = time.monotonic()
deadline = start + 3600


def consume():
    global got
    while time.monotonic() < deadline:
        with lock:
            if got >= want:
                return
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        ms = r.get("Messages", [])
        for m in ms:
            json.loads(m["Body"])["detail"]["eventName"]  # what a consumer reads
        if ms:
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(ms)])
            with lock:
                got += len(ms)


ts = [threading.Thread(target=consume) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(json.dumps({"seconds": time.monotonic() - start, "messages": got}))
