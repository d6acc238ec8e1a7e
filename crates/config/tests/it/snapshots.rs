fn dummy(){}
