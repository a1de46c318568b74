#!/bin/sh
# Seeds fuzz_http_reply: sh fuzz_http_reply.seed.sh CORPUS_DIR ASSETS_DIR
#
# A first byte (see fuzz_http_reply.c), then replies in the shapes servers
# give: echoed log-probs with top_logprobs as objects (vLLM) and as arrays
# (llama.cpp), two choices out of order, a generation, an error, a model list.
dir=$1
printf '\242{"choices":[{"index":0,"text":"","finish_reason":"length","logprobs":{"tokens":["a","b","c","d"],"token_logprobs":[null,-1.5,-0.25,-3],"top_logprobs":[null,{"b":-1.5,"x":-0.5},{"c":-0.25},{"d":-3}],"text_offset":[0,1,3,5]}}],"usage":{"prompt_tokens":3,"completion_tokens":1}}' >"$dir/vllm"
printf '\132{"choices":[{"logprobs":{"token_logprobs":[null,-2,-1],"top_logprobs":[null,[{"token":"a","logprob":-2}],[{"token":"b","logprob":-0.5}]]}}]}' >"$dir/llamacpp"
printf '\001{"choices":[{"index":1,"text":"B"},{"index":0,"text":"A","finish_reason":"stop"}]}' >"$dir/two"
printf '\000{"choices":[{"index":0,"text":" answer 4.","finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3}}' >"$dir/gen"
printf '\000{"error":{"message":"overloaded","type":"server_error"}}' >"$dir/error"
printf '\004{"object":"list","data":[{"id":"m","root":"/models/m","max_model_len":4096,"created":1}]}' >"$dir/models"
exit 0
