/* fetch_sources — where each dataset's original release lives, pinned by
 * sha256 (fetch.h). Plain files are pinned by the sha256 of the same files
 * as published (the copies the test suite reads); archives by the sha256 of
 * the release archive. Adding a dataset: its release files, their digests,
 * and the folder its task definitions read. */
#include <string.h>

#include "fetch.h"

static const fetch_file KMMLU[] = {
    {"data/Accounting-dev.csv", "5c5acc4627500fd22520b3368bdffcf95b66c5d61265e925b622fcb1dd8933ff"},
    {"data/Accounting-test.csv", "57f9ad22a932fdcf8891f32ab15f3651f28af951681a82ab78a3763f3ec58730"},
    {"data/Agricultural-Sciences-dev.csv", "c9cb895f041f97fabd42c04fc1ea9791e5a61a8a87507369f6af1f43a5179450"},
    {"data/Agricultural-Sciences-test.csv", "3ba04eee8e5738d3fd8416d3f87d93a7e3b85b90165049cfbcd32d4e190ea7e2"},
    {"data/Aviation-Engineering-and-Maintenance-dev.csv", "b06b3e77a32ea4ceae3835435aeeba1a1886c4daf9dadd6adb4a20566b99da49"},
    {"data/Aviation-Engineering-and-Maintenance-test.csv", "6be70548311599cc9e657931369e22d0eaef49dc2a86572b61463350be61c696"},
    {"data/Biology-dev.csv", "4a9ba4005caf8fd7dbc8de5cf4b7b60df047f64d0b9b6170fd07952ed04ea57f"},
    {"data/Biology-test.csv", "024b729adabc6316e5109fd218bb72d255990239a7614c15bf1fead5e2fe94d7"},
    {"data/Chemical-Engineering-dev.csv", "88c9e23becf874202d1a1c8818787512550c93801dfdb8738c39b39def0d94b0"},
    {"data/Chemical-Engineering-test.csv", "d663acd53b86caa55a4c3d8fa3b63b78670622b50bd1e02e0366a1a439f38412"},
    {"data/Chemistry-dev.csv", "cf61b5974623413f0efef3c37526a6b251644b16f5bb65629871dcaf5220d3dd"},
    {"data/Chemistry-test.csv", "6fcb111504024f9e5cfd4af994ac39747466bca27434726faa696209689b9d6f"},
    {"data/Civil-Engineering-dev.csv", "becdfde780668ab6f94de6bae3e2677e97c859172752a1e3e29bbfb44ef23131"},
    {"data/Civil-Engineering-test.csv", "ace4a1b7b943c74b99b08c11d2e2fd2195d26b7acec51974ff91837494776d43"},
    {"data/Computer-Science-dev.csv", "1305e998bdfa535a16045ae47c7bd26a279995d4cd79e7342dcab9bc5aa7c5ca"},
    {"data/Computer-Science-test.csv", "1f4ea55c56b0045f3cbbb1934f52f80d0890b9750438502e48cb74f8ddbc1c32"},
    {"data/Construction-dev.csv", "ee11fd9d7410cf8e5f8e38c24db58ab87dafb081b07daf430b4ab463b1d34c35"},
    {"data/Construction-test.csv", "283007f0fb2847c094e409dcc233c6500d104a7baa85249957480c9ad25c58d9"},
    {"data/Criminal-Law-dev.csv", "a81ee233c45c46bbbbb81ed24034b55b4d6ac8af1752f12d6278c79a9459bd79"},
    {"data/Criminal-Law-test.csv", "997d867568fb7f12486d938645e2a95fe1f541c591a426cbd16b2dbf6fb5c601"},
    {"data/Ecology-dev.csv", "4b1d69daba35f671d056d06fa321b87de130c6a10e101d10f14f333aa1fda6f8"},
    {"data/Ecology-test.csv", "9393f1e0fd85732366dba000b63f88d8bf6c9f08d8bcf192de0c5b9d9e750c0c"},
    {"data/Economics-dev.csv", "c30a9da5ab9407af32ee813d246f138081f2b73ca192cd262c21c99777a89fbb"},
    {"data/Economics-test.csv", "5dd198f9aea4b9131ee2532c7daa0e861ccf24d61add29822683d5aec2ad54bb"},
    {"data/Education-dev.csv", "453e6fce8ede6e03516e9b9f6c89844f94a034bb1734d4a713cfcfeedda7ebf5"},
    {"data/Education-test.csv", "7c75aafb5ae29f42294b9be600c0db7df1aa003f9005198624d696d18b1a5b17"},
    {"data/Electrical-Engineering-dev.csv", "4594522c440b0b554a29729a0f06973f7c3ac3e16d9c93ea82939eefec20834c"},
    {"data/Electrical-Engineering-test.csv", "0425e8e56bde00ea81b895179663629f81a49970f6ad09c1a3b11315a990aa9a"},
    {"data/Electronics-Engineering-dev.csv", "5fbed485f70ca78b70bb0eaef0c2ac1374933699f6e31c789fa030b518c63f35"},
    {"data/Electronics-Engineering-test.csv", "d10d9a2158c60379ecadb299939f92feec17c615811773c6882138d5b07df885"},
    {"data/Energy-Management-dev.csv", "42f1fc95d489faad3180140c4896dd68d0be819a482a63d2f4fb02c844a90efe"},
    {"data/Energy-Management-test.csv", "be658506ed332d17f8ef3909f0795a083c768f52b94d56d80d90e12d909fccc0"},
    {"data/Environmental-Science-dev.csv", "ea70e3f52ed121b0ee5bd7ec1a819b0e1e8897c5231c50912f842e968477645b"},
    {"data/Environmental-Science-test.csv", "0d0bccb6a823b4c7e8bdbf9232034176fd00185e4e2a14dcb769100f19628adf"},
    {"data/Fashion-dev.csv", "6c2a3c332c6ecdca3a5d98142fadc21c5074c6e97dd00e74d5c7424b2889d405"},
    {"data/Fashion-test.csv", "a2d654566f485d63246fab0fe9dc9e6884935c4146d0512a9aa6cefd2b7d8250"},
    {"data/Food-Processing-dev.csv", "06e345dc8709cc7ab359a955131123d8a2931932ca1233bc635f983524219afe"},
    {"data/Food-Processing-test.csv", "4c8b43760631fd8ce5436015baa939004da5d661778903d7008c3dd44e69ced9"},
    {"data/Gas-Technology-and-Engineering-dev.csv", "0d323957e761acf723ccafdc2d5d0c476623ee4c9e1205fb8e7e59f34527e1c5"},
    {"data/Gas-Technology-and-Engineering-test.csv", "3e51efdffe7ec98bd756a8001ed80ef6e675d287cbd72481752bc862afcd0f48"},
    {"data/Geomatics-dev.csv", "85a6eb08bca375c2bbc8ac5a8892b3b1e92f4a87c093e5c3675e0a22f6eafe83"},
    {"data/Geomatics-test.csv", "e9b7e5119f2b1eb555b6b93b0b61b5dcf500ce5d9978677e5c166d4c70b81365"},
    {"data/Health-dev.csv", "e6ef69dc07fd0cf52b1de34a2d3ea38cf453440e1023089e233a1bf4353ea304"},
    {"data/Health-test.csv", "88814c54e05aab2d99519d211c672efbb2daff3acc337d315d4a398a63f5da07"},
    {"data/Industrial-Engineer-dev.csv", "db58100d5398659d3deba71a17bdf39d3a2c8fa8b310a3507f6185f3f1957050"},
    {"data/Industrial-Engineer-test.csv", "ae20b5ee0687f8bce947ec161e4fa3a81bcba56de6605977bac8a8aaa78ec2cf"},
    {"data/Information-Technology-dev.csv", "b4fad41a77f821da83eb0f77127e29d6f0ac42cd8293191d4f07210d5667103c"},
    {"data/Information-Technology-test.csv", "44576d84cf99731cabbcf826a5476622a67d47c6619bb9c2230d6ef3d89ffc09"},
    {"data/Interior-Architecture-and-Design-dev.csv", "d0a1b4647a30e09e28c0978e6a2391f8a908e51a58392f38e28e24d683a546be"},
    {"data/Interior-Architecture-and-Design-test.csv", "ad211ff9d8447f0dc35856fa28848df28fced19d4252ecb1dc175d11895e1dae"},
    {"data/Law-dev.csv", "9e2f60ad430cf964736ec791f704f43dfe904c396e9114d6e3cff3a38e12b13d"},
    {"data/Law-test.csv", "dfd473e541ebffe09e1257ee1d9d4a5aa2dab1c26c09710757e870b8c81c862d"},
    {"data/Machine-Design-and-Manufacturing-dev.csv", "d7c200c584571cb6df79439d7a13b2b03e2630960674da770e401f45da02c03c"},
    {"data/Machine-Design-and-Manufacturing-test.csv", "4c454b6a9bf02730a453ae9b433b3086ef005812e19267d051a47b9ef35eba4c"},
    {"data/Management-dev.csv", "cb463ef5d0a6cb4a4b5ca971d86f7ce2126bf0b79c5b9b65aefe1e5828f3d900"},
    {"data/Management-test.csv", "ccf0b3ab0aec012225d61fed7b35ed94b1b5020bf851309b6cfd4406ce604693"},
    {"data/Maritime-Engineering-dev.csv", "74f1a7c5bcc1976b92f5ab47f5234fa4ffef26cd1329e6184246ea59b2e58237"},
    {"data/Maritime-Engineering-test.csv", "837c27023bea505e16b0fd568d494ff261e0cf008630c3b6b237dc45458973ec"},
    {"data/Marketing-dev.csv", "03d6d6d9ae8afd6299d8e438fea473ece8e63feac9e76077a43b6762afd8ea0f"},
    {"data/Marketing-test.csv", "a4958fe910b4415e3f5893ccc767558ba1b7641e705a3089b419be5126d66a29"},
    {"data/Materials-Engineering-dev.csv", "f8f882791a7741a0eeadbc5b5718651bc90f30b1bfe330ad7285eb117e2f4263"},
    {"data/Materials-Engineering-test.csv", "04cc20ab3f6da895e62db01a0312ee719c94d628969a4db0999abf10e57d0745"},
    {"data/Mechanical-Engineering-dev.csv", "712b6fc74312f6bd057f2d85cf6b4fd6b7dd4ab1f732c17628ad61220688fbae"},
    {"data/Mechanical-Engineering-test.csv", "ddeec8f94d4e5a1e9c6d4c0f09d6c9163383c2907475194d9f7ac4564826051e"},
    {"data/Nondestructive-Testing-dev.csv", "99437f38fbca46dc629b6dc539a7556cb4f0b6b22f6d86ca4ff4446f2a990ec2"},
    {"data/Nondestructive-Testing-test.csv", "acab3a30ab9c184b6780f805c262289d99cd8d30467cc846d9094309f7e3e97e"},
    {"data/Patent-dev.csv", "93db193bf2fa50b39ad61a205fb1e17291f8c717c7707676c61c7d159fe8f150"},
    {"data/Patent-test.csv", "a220242616aca2c110303f78dafc7996f5683cf6c7f8a5e1df46c7fe4840894e"},
    {"data/Political-Science-and-Sociology-dev.csv", "cee256796bc7c9b7eedaa66bcf17247f7e75d548b374c0f69e5ab7215e4dd297"},
    {"data/Political-Science-and-Sociology-test.csv", "e4ca34705fa5a2846dd3b3c297736f19065293c495929aa45e287c2d3e1c1034"},
    {"data/Psychology-dev.csv", "add189852e15b25ae37648e018d3cb1cdb50fadd808918dd6a36830b3a3b8075"},
    {"data/Psychology-test.csv", "625ed34880528dda3b43bcc8e67b067aa9ba4d0df24c14a983adf555b4be16e0"},
    {"data/Public-Safety-dev.csv", "6a385c9f8c17291e47a323c6b787b30b1c6e5f44169da0ce0ba6e2339fdf400e"},
    {"data/Public-Safety-test.csv", "0a8a26de738adbf0be1aa8c24c3daf8a36f543b65bc616812f606618284e4806"},
    {"data/Railway-and-Automotive-Engineering-dev.csv", "a01ef9e3c1b86ce8ab29de2fe3cef882c5dcb0de7659eddf9e6877c8e0a8d458"},
    {"data/Railway-and-Automotive-Engineering-test.csv", "f6ff7b40ce388ef7c8913c99304f508266a9f711c49204598288cda279d1c77d"},
    {"data/Real-Estate-dev.csv", "21f6ea53573f82eb2d18e9f5fa224c025f3ec3c19b69ba57d51031be97c23da0"},
    {"data/Real-Estate-test.csv", "29a6cb8f8eb2a6ba49bc9801506625c0b7b7898c6e186186e10ff63989eedfc5"},
    {"data/Refrigerating-Machinery-dev.csv", "d6bf1c82db3a3aab0b51e62cd7d0c781d77c3b6514ded4ff7270076b11c4abb6"},
    {"data/Refrigerating-Machinery-test.csv", "459769c594fb4c32db593f1e87b2f2ba47cbabe94cab10f954de4b222d7058de"},
    {"data/Social-Welfare-dev.csv", "46f25f942cd59366a6938c3b916cfb59daa982da6b7eafffbb0b81cb3c3416f6"},
    {"data/Social-Welfare-test.csv", "fd957f11e87848b7e83a9f2997cfbe4df8c1aaa0b22af10a6243758a61465204"},
    {"data/Taxation-dev.csv", "2f73652845f835376766cd7f352a9afa2e6b73654848cae6167fe34fc833f6d7"},
    {"data/Taxation-test.csv", "dcfbd0393cb7556d838c93b3dac32007747a81c616fb7c73a7dedc6e31716af3"},
    {"data/Telecommunications-and-Wireless-Technology-dev.csv", "81e60c0d70b32d15aff05fe45400875d64884d5f8c3e79bb501d3392ba2ab9ed"},
    {"data/Telecommunications-and-Wireless-Technology-test.csv", "c732e5b12a931e1cc7f187d11306e92729516b74f0ff3ac775d2f6a231a3d46d"},
    {"data/korean-history-dev.csv", "d35535928fc93c0ddb4b43e49129a06090fb0f0e6136eb69005aad60d3c37e1f"},
    {"data/korean-history-test.csv", "d7ed0a2d581f754462248fea8aa8379df67de6c34b95c1eecc7705182426ed4a"},
    {"data/math-dev.csv", "a6d224a32b25ca22bc354a032ba42a9effb34a47063983cd21203c93e82e1099"},
    {"data/math-test.csv", "11ac1c99414f4b583f611e849df4842f1a61a212b2525b79dd9c355294850fd4"},
};
static const fetch_file KOBEST[] = {
    {"BoolQ/dev.tsv", "946d62e3230b349a00a57b3ab2c4bef16b466ef05746f3082e817ddf889fc293"},
    {"BoolQ/test.tsv", "d58309601b578f96c7f9b9d7437112f93ae872f69316a9e6a1d78eec34261d0b"},
    {"BoolQ/train.tsv", "c2342714366e2beef0d8bedeea64ab9aa315747c1e900da678714531ab1c0f75"},
    {"COPA/dev.tsv", "d3f2a03d0e76b4863358cb4c13688599e2bf00160e4287a432a790c3b681bd2e"},
    {"COPA/test.tsv", "3291a6b900c129e4525d45d879e63e53ee1efb611afe87038d9bd37344f85d5e"},
    {"COPA/train.tsv", "a9eab9c902917ab20303f0c1cc8853d0f8f742b2368ea75588068e74a8a8ed6c"},
    {"HellaSwag/dev.tsv", "01ae7e6daf95cc2412c0db6f6a76171828902e1e1152fff42484dfa78ac0f3f9"},
    {"HellaSwag/test.tsv", "94fae5735d54211bc7ed493c60abc23e770891dcd719feb229ebe76ee230bcbf"},
    {"HellaSwag/train.tsv", "c49c07b05e6f82a6e554b48a37d71971c03af08967e62d8532216afd73e90a8c"},
    {"SentiNeg/dev.tsv", "a64c8f70d11930222b0a356871512680a9ca230721ced23ffd73e14cf0478b79"},
    {"SentiNeg/test.tsv", "7bec3d31ccebee0db4cfcedc7205cfd7d21603ecaec5327ce4a74eff54d0007d"},
    {"SentiNeg/train.tsv", "07c8517ae035e400dc2ec8f9eb6a1d3c462c1758058c8f83ff4d1326eb80a5c7"},
    {"WiC/dev.tsv", "74b23183f0ad0a8387720b395ff775ae213b9474a9c1a465831f905ff23dbd05"},
    {"WiC/test.tsv", "583701d175f56d3b2c206ecf70b77d7932363a60f3559c256f4509601820f8aa"},
    {"WiC/train.tsv", "5ed29b813c0d2e6a417cec6087070e844765b11be005630ca59be6b3e7d22c2f"},
};
static const fetch_file GSM8K[] = {
    {"test.jsonl", "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14"},
    {"train.jsonl", "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465"},
};
static const fetch_file TRUTHFULQA[] = {
    {"data/v1/TruthfulQA.csv", "f9bd9e859cc102cb1f647f1064da7e009be752c416845cf9fa56e6eaae403a7d"},
    {"data/v1/mc_task.json", "b3799639bc76c939836d587de7d30b48d91012cb34be04806d33106ce06c162a"},
};
static const fetch_file MMLU[] = {
    {"data.tar", "bec563ba4bac1d6aaf04141cd7d1605d7a5ca833e38f994051e818489592989b"},
};
static const fetch_file ARC[] = {
    {"ARC-V1-Feb2018.zip", "6d2d5ab50b2ceec6ba5f79c921be77cf2de712ea25a2b3f4fff3acc101cecfa0"},
};
static const fetch_file WINOGRANDE[] = {
    {"winogrande_1.1.zip", "3619ab104d8be2977b25c90ff420cb42d491707dcc75362a1e5d22bc082b7318"},
};
/* Stored as hellaswag_val_full.txt.gz, the name hellaswag.json reads. */
static const fetch_file HELLASWAG[] = {
    {"hellaswag_val_full.txt", "d572539320eb2050e858ca34b495bbe2103e3b3f1391a9c3bcdf215b0bb93bd1"},
};

static const char *const MMLU_KEEP[] = {"dev/", "val/", "test/", NULL};
static const char *const ARC_KEEP[] = {"ARC-Easy/", "ARC-Challenge/", NULL};

#define FILES(a) a, (int)(sizeof a / sizeof a[0])
static const fetch_dataset DATASETS[] = {
    {"mmlu", "https://people.eecs.berkeley.edu/~hendrycks/", "MIT", FETCH_TAR, FILES(MMLU), "data/", MMLU_KEEP},
    {"arc", "https://s3-us-west-2.amazonaws.com/ai2-website/data/", "CC BY-SA 4.0", FETCH_ZIP, FILES(ARC),
     "ARC-V1-Feb2018-2/", ARC_KEEP},
    {"hellaswag", "https://github.com/klosax/hellaswag_text_data/raw/1105d37/", "MIT", FETCH_GZIP,
     FILES(HELLASWAG), NULL, NULL},
    {"truthfulqa", "https://github.com/sylinrl/TruthfulQA/raw/d71c110/", "Apache-2.0", FETCH_PLAIN,
     FILES(TRUTHFULQA), NULL, NULL},
    {"winogrande", "https://storage.googleapis.com/ai2-mosaic/public/winogrande/", "CC-BY", FETCH_ZIP,
     FILES(WINOGRANDE), "winogrande_1.1/", NULL},
    {"kmmlu", "https://huggingface.co/datasets/HAERAE-HUB/KMMLU/resolve/main/",
     "CC BY-ND 4.0 (no modified copies)", FETCH_PLAIN, FILES(KMMLU), NULL, NULL},
    {"kobest", "https://github.com/SKT-LSL/KoBEST_datarepo/raw/2956e24d8d5de8bad263432480f740d0e2eeee43/v1.0/",
     "CC BY-SA 4.0", FETCH_PLAIN, FILES(KOBEST), NULL, NULL},
    {"gsm8k", "https://github.com/openai/grade-school-math/raw/3101c7d/grade_school_math/data/", "MIT",
     FETCH_PLAIN, FILES(GSM8K), NULL, NULL},
};

int fetch_n_datasets(void) { return (int)(sizeof DATASETS / sizeof DATASETS[0]); }

const fetch_dataset *fetch_dataset_at(int i) { return i >= 0 && i < fetch_n_datasets() ? &DATASETS[i] : NULL; }

const fetch_dataset *fetch_find(const char *name) {
    for (int i = 0; i < fetch_n_datasets(); i++)
        if (!strcmp(DATASETS[i].name, name)) return &DATASETS[i];
    return NULL;
}
